"""`TopicAclPlugin`: per-packet publish/subscribe/receive decisions from `broker.acl`."""

import logging
from collections import Counter
from dataclasses import dataclass

from amqtt.contexts import Action as AmqttAction
from amqtt.contexts import BaseContext
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.session import Session

from broker.acl import Account, AccountKind, Action, Rights, decide, rights_for
from broker.plugins.auth import ACCOUNT_ATTR
from contract.homeassistant import DEFAULT_HA_PREFIX
from contract.ids import ID_RE
from contract.topics import DEFAULT_PREFIX

log = logging.getLogger(__name__)

_ACTIONS = {
    AmqttAction.PUBLISH: Action.PUBLISH,
    AmqttAction.SUBSCRIBE: Action.SUBSCRIBE,
    AmqttAction.RECEIVE: Action.RECEIVE,
}


class TopicAclPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no py.typed
    """Allows or denies each publish, subscription and delivery; never abstains.

    A session restored from the persistence database before its client reconnected has no
    account yet; it is treated as the device its client id names (devices must use their id
    as client id), or as nobody, which can only narrow what it receives.
    """

    @dataclass
    class Config:
        prefix: str = DEFAULT_PREFIX
        """Topic prefix of the contract."""
        demo: bool = False
        """Anonymous clients may use the public topics (status, infer, result, event, error)."""
        ha_prefix: str | None = DEFAULT_HA_PREFIX
        """Home Assistant discovery prefix (None: no Home Assistant rights)."""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.denied: Counter[str] = Counter()
        self._rights: dict[Account, Rights] = {}

    def rights(self, account: Account) -> Rights:
        if account not in self._rights:
            self._rights[account] = rights_for(
                account,
                prefix=self.config.prefix,
                demo=self.config.demo,
                ha_prefix=self.config.ha_prefix,
            )
        return self._rights[account]

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: AmqttAction | None = None,
    ) -> bool:
        if session is None or topic is None or action not in _ACTIONS:
            return False
        ours = _ACTIONS[action]
        account = _account_of(session)
        if account is not None and decide(self.rights(account), ours, topic):
            return True
        self.denied[str(ours)] += 1
        level = logging.DEBUG if ours is Action.RECEIVE else logging.WARNING
        name = account.name if account else "?"
        log.log(level, "%s denied: client %r (%s) on %r", ours, session.client_id, name, topic)
        return False


def _account_of(session: Session) -> Account | None:
    account = getattr(session, ACCOUNT_ATTR, None)
    if isinstance(account, Account):
        return account
    client_id = str(session.client_id or "")
    return Account(AccountKind.DEVICE, client_id) if ID_RE.fullmatch(client_id) else None
