"""The TLS listener's server context, and the checks that make a bad certificate set-up fail at
start-up with a message naming the file and the fix.

amqtt 0.12.1 builds its listener context itself (`Broker._create_ssl_context`) with
`verify_mode = CERT_OPTIONAL` hard-coded and the system CAs trusted for client certificates
when no `cafile` is given; its listener config takes file names, not an `ssl.SSLContext`.
`broker.server.GuardedBroker` therefore hands amqtt the context built here instead.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID


class TlsConfigError(ValueError):
    """A TLS file is missing, unreadable or does not fit; the message says which and why."""


@dataclass(frozen=True)
class TlsFiles:
    """The files of the TLS listener."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None
    require_client_cert: bool = False


def _read(path: Path, what: str) -> bytes:
    if not path.exists():
        raise TlsConfigError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise TlsConfigError(f"{what} {str(path)!r} is not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(
            f"{what} {str(path)!r} is not readable ({exc.strerror}); "
            "give the broker's user read access"
        ) from None


def _no_passphrase() -> NoReturn:
    raise TlsConfigError("encrypted")


def check_files(files: TlsFiles) -> None:
    """Raise TlsConfigError unless the files exist, parse, and the key belongs to the cert."""
    if files.require_client_cert and files.cafile is None:
        raise TlsConfigError(
            "tls_require_client_cert needs tls_cafile: the CA that signed the device "
            "certificates (without it any publicly trusted certificate would pass)"
        )
    cert_pem = _read(files.certfile, "tls_certfile")
    key_pem = _read(files.keyfile, "tls_keyfile")
    try:
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise TlsConfigError(
            f"tls_certfile {str(files.certfile)!r} holds no PEM certificate "
            "(-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TlsConfigError(
            f"tls_keyfile {str(files.keyfile)!r} is encrypted; the broker takes no passphrase: "
            "decrypt it (openssl pkey -in KEY -out KEY.plain) and protect it with file modes"
        ) from None
    except (ValueError, NotImplementedError):
        raise TlsConfigError(
            f"tls_keyfile {str(files.keyfile)!r} holds no PEM private key "
            "(-----BEGIN PRIVATE KEY-----)"
        ) from None
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise TlsConfigError(
            f"tls_keyfile {str(files.keyfile)!r} does not match the certificate in tls_certfile "
            f"{str(files.certfile)!r} (different public keys): give the key the certificate "
            "was issued for"
        )
    if files.cafile is not None:
        try:
            x509.load_pem_x509_certificates(_read(files.cafile, "tls_cafile"))
        except ValueError:
            raise TlsConfigError(
                f"tls_cafile {str(files.cafile)!r} holds no PEM CA certificate"
            ) from None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The listener's context: TLS 1.2+, client certificates verified against `cafile` only,
    and required when `require_client_cert` (a handshake without one fails)."""
    check_files(files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.certfile, files.keyfile, password=_no_passphrase)
        if files.cafile is not None:
            context.load_verify_locations(cafile=files.cafile)
    except (ssl.SSLError, TlsConfigError) as exc:
        raise TlsConfigError(f"cannot load the TLS files: {exc}") from None
    if files.require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    elif files.cafile is not None:
        context.verify_mode = ssl.CERT_OPTIONAL  # a presented certificate must still verify
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def peer_common_name(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The subject CN of the verified client certificate on this connection, if any."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""
