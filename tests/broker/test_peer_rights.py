"""Site gateway rights (`Account.peers`/`clients`): what a device may do with its site's
gateways, what a gateway may answer, and the dynsec role changes that follow the registry."""

import pytest

from broker.acl import Account, AccountKind, Action, decide, rights_for
from broker.credentials import AccountGrant, CredentialsFile, FileEntry, hash_secret
from broker.dynsec import add_account_commands, role_acl_changes, role_acls
from contract import Kind, Topics

P, S, R = Action.PUBLISH, Action.SUBSCRIBE, Action.RECEIVE
T = Topics()
A1 = Account(AccountKind.DEVICE, "a1", peers=("ga", "a1"))  # itself: ignored
GA = Account(AccountKind.DEVICE, "ga", clients=("a1", "a2", "ga"))
B1 = Account(AccountKind.DEVICE, "b1")


@pytest.mark.parametrize(
    ("account", "action", "topic", "allowed"),
    [
        # a device offloads to its site's gateway: its infer topics, with or without rid
        (A1, P, T.infer("ga", "m", "r1"), True),
        (A1, P, T.infer("ga", "m"), True),
        (A1, P, T.infer("gb", "m", "r1"), False),  # not its site's gateway
        (B1, P, T.infer("ga", "m", "r1"), False),  # another site's device
        # ... and nothing else of the gateway's
        (A1, P, T.cmd("ga", "reload"), False),
        (A1, P, T.twin_desired("ga"), False),
        (A1, P, T.result("ga", "m", "r1"), False),
        (A1, P, T.status("ga"), False),
        (A1, P, T.health("ga"), False),
        (A1, P, T.reply("ga", "r1"), False),
        # it watches the gateway's liveness and load, not its results or commands
        (A1, R, T.status("ga"), True),
        (A1, R, T.health("ga"), True),
        (A1, S, T.status("ga"), True),
        (A1, S, T.health("ga"), True),
        (A1, R, T.result("ga", "m", "r1"), False),
        (A1, S, T.filter(Kind.RESULT, "ga"), False),
        (A1, R, T.cmd("ga", "reload"), False),
        (A1, S, T.all("ga"), False),
        (A1, R, T.health("gb"), False),
        # its own answers arrive on its reply topic (its own right, gateway or not)
        (A1, R, T.reply("a1", "r1"), True),
        (B1, R, T.reply("b1", "r1"), True),
        # a gateway answers its site's devices on their reply topic, nothing more
        (GA, P, T.reply("a1", "r1"), True),
        (GA, P, T.reply("a2", "r9"), True),
        (GA, P, T.reply("b1", "r1"), False),  # another site's device
        (GA, P, T.cmd("a1", "reload"), False),
        (GA, P, T.infer("a1", "m", "r1"), False),
        (GA, P, T.twin_desired("a1"), False),
        (GA, R, T.reply("a1", "r1"), False),  # answers a1's requests, reads none of a1's
        (GA, R, T.status("a1"), False),
        (GA, R, T.infer("ga", "m", "r1"), True),  # its own requests, as every device
        (GA, P, T.reply("ga", "r1"), False),  # itself excluded from its clients
    ],
)
def test_peer_rights(account: Account, action: Action, topic: str, allowed: bool) -> None:
    assert decide(rights_for(account), action, topic) is allowed


def test_no_peers_no_extra_rights() -> None:
    plain = rights_for(B1)
    assert rights_for(Account(AccountKind.DEVICE, "b1", peers=(), clients=())) == plain
    # a device that lists itself gains nothing
    assert rights_for(Account(AccountKind.DEVICE, "b1", peers=("b1",), clients=("b1",))) == plain


def test_grants_carry_peers_and_file_entries_too() -> None:
    grant = AccountGrant(kind="device", name="a1", peers=["ga"], clients=None)
    assert grant.account() == Account(AccountKind.DEVICE, "a1", peers=("ga",))
    assert AccountGrant.model_validate_json(grant.model_dump_json()) == grant
    with pytest.raises(ValueError, match="only devices"):
        AccountGrant(kind="integrator", name="acme", peers=["ga"])
    with pytest.raises(ValueError, match="pattern"):
        AccountGrant(kind="device", name="a1", peers=["../ga"])
    entry = FileEntry(name="ga", kind="device", secret_sha256=hash_secret("s"), clients=["a1"])
    loaded = CredentialsFile.model_validate(CredentialsFile(accounts=[entry]).model_dump())
    assert loaded.accounts[0].account().clients == ("a1",)


def test_role_acl_changes_add_missing_and_remove_stale() -> None:
    role = add_account_commands(Account(AccountKind.DEVICE, "a1"), "pw")[0]
    current = role["acls"]
    wanted = role_acls(rights_for(A1))
    adds, removes = role_acl_changes("device-a1", current, wanted)
    assert {(a["acltype"], a["topic"]) for a in adds} == {
        ("publishClientSend", "edgefleet/v1/ga/infer/#"),
        ("publishClientReceive", "edgefleet/v1/ga/status"),
        ("publishClientReceive", "edgefleet/v1/ga/health"),
        ("subscribePattern", "edgefleet/v1/ga/status"),
        ("subscribePattern", "edgefleet/v1/ga/health"),
    }
    assert all(a["command"] == "addRoleACL" and a["rolename"] == "device-a1" for a in adds)
    assert removes == []
    back_adds, back_removes = role_acl_changes("device-a1", wanted, current)
    assert back_adds == []
    assert {(r["acltype"], r["topic"]) for r in back_removes} == {
        (a["acltype"], a["topic"]) for a in adds
    }
    assert role_acl_changes("device-a1", current, current) == ([], [])
