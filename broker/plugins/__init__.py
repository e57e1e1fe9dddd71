"""amqtt plugins enforcing edgefleet's broker policy: who may connect, and to which topics."""

from broker.plugins.acl import TopicAclPlugin
from broker.plugins.auth import ACCOUNT_ATTR, ClientCertPlugin, CredentialsAuthPlugin

__all__ = ["ACCOUNT_ATTR", "ClientCertPlugin", "CredentialsAuthPlugin", "TopicAclPlugin"]
