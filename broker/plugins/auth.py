"""`CredentialsAuthPlugin`: accept a CONNECT only with credentials a `CredentialSource` knows."""

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import BaseContext
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from broker.acl import ANONYMOUS, Account, AccountKind
from broker.credentials import CredentialSource, HubCredentials, StaticCredentials
from broker.tls import peer_common_name

log = logging.getLogger(__name__)

ACCOUNT_ATTR = "edgefleet_account"
"""Session attribute holding the authenticated `Account`; `TopicAclPlugin` reads it."""


class CredentialsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no py.typed
    """Authenticates against a credentials file or the hub; anonymous only in demo mode.

    Answers True (allow) or False (deny), never None: with this plugin loaded nobody gets in
    on another plugin's word.
    """

    @dataclass
    class Config:
        credentials_file: str | None = None
        """Static YAML/JSON credentials (see broker/credentials.py)."""
        hub_url: str | None = None
        """Ask the hub instead: `POST` to its broker-auth path (contract/http.py)."""
        hub_service_key: str | None = None
        """Bearer key the broker presents to the hub; required with `hub_url`."""
        cache_ttl_s: float = 5.0
        """How long a hub answer is reused; bounds how late a revocation takes effect."""
        demo: bool = False
        """Accept clients without a username as `anonymous` (public topics only, docs/broker.md)."""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.denied: Counter[str] = Counter()
        self._source = _make_source(self.config)

    async def authenticate(self, *, session: Session) -> bool:
        account = await self._account(session)
        if account is None or not self._may_use_client_id(account, session):
            return False
        setattr(session, ACCOUNT_ATTR, account)
        session.is_anonymous = account.kind is AccountKind.ANONYMOUS
        return True

    async def _account(self, session: Session) -> Account | None:
        """Who is connecting; None (counted and logged) when the CONNECT is refused."""
        client_id = str(session.client_id)
        if not session.username:
            if self.config.demo and session.password is None:
                return ANONYMOUS
            self._deny("anonymous", client_id, "no username")
            return None
        account = None
        if self._source is not None:
            account = await self._source.authenticate(session.username, session.password, client_id)
        if account is None:
            self._deny("credentials", client_id, f"refused user {session.username!r}")
        return account

    def _may_use_client_id(self, account: Account, session: Session) -> bool:
        """A device's client id is that device's, and a session stays with its owner.

        amqtt would hand a newcomer with the same client id the existing session (its
        subscriptions and queued commands) or cut its connected client off. The device a
        client id names may always take it, even from a squatter.
        """
        client_id = str(session.client_id)
        if account.kind is AccountKind.DEVICE and account.name == client_id:
            return True
        who = f"{account.kind} {account.name!r}"
        if self._source is not None and self._source.reserves(client_id):
            return self._deny("client_id", client_id, f"a device's client id, used by {who}")
        existing = self.context.get_session(client_id)
        if existing is None or existing is session or _may_resume(existing, account):
            return True
        return self._deny("takeover", client_id, f"its session belongs to another than {who}")

    def _deny(self, reason: str, client_id: str, detail: str) -> bool:
        self.denied[f"connect_{reason}"] += 1
        log.warning("connect denied for client %r: %s", client_id, detail)
        return False

    async def close(self) -> None:
        if self._source is not None:
            await self._source.close()


class ClientCertPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no py.typed
    """Binds a TLS client certificate to the account: its subject CN must equal the CONNECT's
    username (a device's id), or the client id when there is no username.

    Loaded next to the credentials (or anonymous) plugin when the TLS listener verifies client
    certificates. No opinion (None) on connections without a certificate (the plain listener);
    the other plugin still checks the password, so a certificate alone never logs a device in.
    """

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.denied: Counter[str] = Counter()

    async def authenticate(self, *, session: Session) -> bool | None:
        common_name = peer_common_name(getattr(session, "ssl_object", None))
        if common_name is None:
            return None
        expected = session.username or session.client_id
        if common_name != expected:
            self.denied["connect_certificate"] += 1
            log.warning(
                "connect denied for client %r: certificate CN %r is not %s %r",
                session.client_id,
                common_name,
                "username" if session.username else "client id",
                expected,
            )
            return False
        return True


def _may_resume(session: Session, account: Account) -> bool:
    """Same owner: kind and name (rights may have changed since). A session restored from the
    database has no owner on record; it goes to the first authenticated, non-anonymous client
    allowed to use its client id (device ids are reserved before this is asked)."""
    owner = getattr(session, ACCOUNT_ATTR, None)
    if isinstance(owner, Account):
        return (owner.kind, owner.name) == (account.kind, account.name)
    return account.kind is not AccountKind.ANONYMOUS


def _make_source(config: CredentialsAuthPlugin.Config) -> CredentialSource | None:
    if config.credentials_file and config.hub_url:
        raise ValueError("give credentials_file or hub_url, not both")
    if config.cache_ttl_s < 0:
        raise ValueError(f"cache_ttl_s must be >= 0, got {config.cache_ttl_s}")
    if config.credentials_file:
        return StaticCredentials(Path(config.credentials_file))
    if config.hub_url:
        if not config.hub_service_key:
            raise ValueError("hub_url needs hub_service_key")
        return HubCredentials(config.hub_url, config.hub_service_key, ttl_s=config.cache_ttl_s)
    if not config.demo:
        raise ValueError("no credential source: give credentials_file or hub_url (or demo)")
    return None
