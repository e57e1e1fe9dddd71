"""The agent's TLS client context, built once from `broker.tls` (edge_agent/config.py)."""

import ssl
from typing import NoReturn

from edge_agent.config import BrokerTlsConfig
from edge_agent.errors import ConfigError


def _no_passphrase() -> NoReturn:
    raise ConfigError("broker.tls.key_file is encrypted; give an unencrypted key")


def client_context(tls: BrokerTlsConfig) -> ssl.SSLContext:
    """TLS 1.2+, the broker verified against `ca_file` (system CAs when unset) and, unless
    `insecure`, its host name; `cert_file`/`key_file` presented when the broker asks.

    Raises ConfigError naming the key when a file cannot be loaded or the key does not match.
    """
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"broker.tls.ca_file {str(tls.ca_file)!r}: cannot load: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.insecure:
        context.check_hostname = False  # the chain is still verified (CERT_REQUIRED)
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
        except ssl.SSLError as exc:
            hint = (
                " (the key does not belong to the certificate)" if "KEY_VALUES" in str(exc) else ""
            )
            raise ConfigError(
                f"broker.tls.cert_file {str(tls.cert_file)!r} / key_file "
                f"{str(tls.key_file)!r}: cannot load: {exc}{hint}"
            ) from None
        except OSError as exc:
            raise ConfigError(f"broker.tls: cannot read the client certificate: {exc}") from None
    return context
