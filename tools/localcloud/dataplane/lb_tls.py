"""TLS of an HTTPS listener: the protocol versions its ELB security policy allows, a certificate from
the local CA for the names of the listener's ACM certificate.

The ciphers of each policy are not modelled: Python's OpenSSL defaults are used, which for TLS 1.2
are a subset of the ``TLS13-1-2`` policies' list.
"""

from __future__ import annotations

import re
import ssl
import warnings
from dataclasses import dataclass

VERSIONS = {
    "0": ssl.TLSVersion.TLSv1,
    "1": ssl.TLSVersion.TLSv1_1,
    "2": ssl.TLSVersion.TLSv1_2,
    "3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TlsPolicy:
    name: str
    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    known: bool = True


def policy(name: str) -> TlsPolicy:
    """The TLS versions of an ELB security policy, read from its name as AWS names them:

    * ``ELBSecurityPolicy-TLS13-1-<n>-...``: TLS 1.n to 1.3 (``-1-2-``, ``-1-3-``, FIPS and PQ variants);
    * ``ELBSecurityPolicy-TLS-1-<n>-...`` and ``ELBSecurityPolicy-FS-1-<n>-...``: TLS 1.n to 1.2;
    * the older ``ELBSecurityPolicy-2016-08``, ``-2015-05``, ``-FS-2018-06``: TLS 1.0 to 1.2.

    An unknown name gets TLS 1.2 to 1.3 and is flagged (``known=False``)."""
    if match := re.match(r"^ELBSecurityPolicy-TLS13-1-([0-3])-", name):
        return TlsPolicy(name, VERSIONS[match[1]], ssl.TLSVersion.TLSv1_3)
    if match := re.match(r"^ELBSecurityPolicy-(?:TLS|FS)-1-([0-2])-", name):
        return TlsPolicy(name, VERSIONS[match[1]], ssl.TLSVersion.TLSv1_2)
    if re.match(r"^ELBSecurityPolicy-(?:2016-08|2015-05|FS-2018-06)$", name):
        return TlsPolicy(name, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
    return TlsPolicy(name, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, known=False)


def server_context(tls: TlsPolicy, cert_path: str, key_path: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        if tls.minimum < ssl.TLSVersion.TLSv1_2:
            # Python deprecates TLS 1.0 and 1.1 and OpenSSL 3 refuses them at its default security
            # level; these policies allow them, as AWS still does.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = tls.minimum
        context.maximum_version = tls.maximum
    context.load_cert_chain(cert_path, key_path)
    return context
