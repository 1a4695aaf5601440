"""TLS (a CA file) and extra request metadata (an auth header) against a real local backend that
serves gRPC and REST over TLS and refuses calls without the header on both APIs."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from images import jpeg_bytes, photo

from tfcompare.runner import Runner
from tfcompare.serving import make_client
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

pytestmark = pytest.mark.slow

TOKEN = "Bearer test-token-123"


def _self_signed(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def secure_backend(tiny_model, tmp_path_factory):
    from backends import start_backend

    folder = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(folder)
    backend = start_backend(
        tiny_model,
        threads=1,
        log_dir=folder,
        rest=True,
        extra_args=(
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--require-header",
            f"authorization:{TOKEN}",
        ),
    )
    yield backend, cert
    backend.stop()


def _target(backend, protocol: str) -> str:
    return backend.rest if protocol == "rest" else backend.grpc


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_tls_with_ca_and_auth_header(secure_backend, protocol):
    backend, cert = secure_backend
    spec = BackendSpec(
        name="secure",
        target=_target(backend, protocol),
        model="tiny",
        protocol=protocol,
        tls_ca=str(cert),
        headers=(("authorization", TOKEN),),
        timeout_s=10,
    )
    with make_client(spec) as client:
        assert client.status().available
        sig = client.metadata()
        out = client.predict_image(jpeg_bytes(photo("chelsea")), sig)
    assert len(out.top5) == 5 and out.model_version == 1


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_missing_or_wrong_header_is_refused(secure_backend, protocol):
    backend, cert = secure_backend
    spec = BackendSpec(
        name="secure",
        target=_target(backend, protocol),
        model="tiny",
        protocol=protocol,
        tls_ca=str(cert),
        timeout_s=10,
    )
    with make_client(spec) as client, pytest.raises(ServingError) as err:
        client.status()
    assert err.value.code == "UNAUTHENTICATED"
    wrong = replace(spec, headers=(("authorization", "Bearer nope"),))
    with make_client(wrong) as client, pytest.raises(ServingError) as err:
        client.metadata()
    assert err.value.code == "PERMISSION_DENIED"


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_plaintext_client_against_tls_server_fails_clearly(secure_backend, protocol):
    backend, _ = secure_backend
    spec = BackendSpec(
        name="plain",
        target=_target(backend, protocol),
        model="tiny",
        protocol=protocol,
        timeout_s=3,
        headers=(("authorization", TOKEN),),
    )
    with make_client(spec) as client, pytest.raises(ServingError) as err:
        client.status()
    assert err.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def test_runner_through_tls_and_header(secure_backend, tmp_path):
    backend, cert = secure_backend
    img = tmp_path / "cat.jpg"
    img.write_bytes(jpeg_bytes(photo("chelsea")))
    spec = BackendSpec(
        name="secure",
        target=backend.grpc,
        model="tiny",
        tls_ca=str(cert),
        headers=(("authorization", TOKEN),),
    )
    result = Runner([spec], RunSettings(sizes=(128,), formats=("jpeg",), repeats=1)).run([img])
    assert [r.ok for r in result.measured] == [True, True]
    assert TOKEN not in repr(result.backends[0].to_dict())
