"""Fuzzing the local REST server's request handling (Hypothesis, a bounded number of cases).

Generated requests — well-formed and broken request lines, header sets, Content-Length and
Transfer-Encoding values, JSON documents and binary bodies — go over real sockets to a real
`tfcompare serve`. Each case must end within a deadline with a well-formed HTTP answer (TF
Serving's ``{"error": …}`` body for every refusal, never a 500) or a closed connection; the server
must keep answering others, never log a traceback, and its memory must stay bounded.
"""

from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_raw import connect, read_all, start_rest_server, still_answers

pytestmark = pytest.mark.slow

READ_TIMEOUT = 1.5
MAX_BODY_MB = 1


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    backend = start_rest_server(
        tiny_model,
        tmp_path_factory.mktemp("rest-fuzz"),
        read_timeout=READ_TIMEOUT,
        max_body_mb=MAX_BODY_MB,
    )
    yield backend
    backend.stop()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


_TINY_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5ad0d5e0000000049454e44ae426082"
    )
).decode()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.just({"b64": _TINY_PNG})
    | st.just({"b64": "!!"}),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["instances", "inputs", "signature_name", "images", "b64", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"instances": json_values}).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.binary(max_size=300),
)
paths = st.one_of(
    st.sampled_from(
        [
            "/v1/models/tiny",
            "/v1/models/tiny:predict",
            "/v1/models/tiny/metadata",
            "/v1/models/tiny/versions/1:predict",
            "/v1/models/tiny/labels/x:predict",
            "/v1/models/nope:classify",
            "/",
            "*",
            "/v1/models/tiny/versions/" + "9" * 400 + ":predict",
        ]
    ),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60).map(lambda t: "/" + t),
)
methods = st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "G\x00T", "POST "])
header_names = st.sampled_from(
    [
        "Content-Type",
        "Accept",
        "X-Junk",
        "Expect",
        "Connection",
        "Content-Encoding",
        "Upgrade",
        "Host",
        "Bad Name",
        "X\x7f",
    ]
)
header_values = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=40)
lengths = st.one_of(
    st.none(),
    st.sampled_from(
        ["-1", "abc", "1e15", "0", "8000000000", "2, 2", "99999999999999999999999", " 5"]
    ),
    st.integers(0, 400).map(str),
)
encodings = st.one_of(
    st.none(), st.sampled_from(["chunked", "gzip", "chunked, chunked", "identity", "gzip, chunked"])
)


@st.composite
def requests(draw) -> bytes:
    body = draw(bodies)
    head = [f"{draw(methods)} {draw(paths)} HTTP/{draw(st.sampled_from(['1.1', '1.0', '2']))}"]
    if draw(st.integers(0, 9)) > 0:  # mostly with Host (HTTP/1.1 requires it)
        head.append("Host: fuzz")
    head += [
        f"{n}: {v}" for n, v in draw(st.lists(st.tuples(header_names, header_values), max_size=4))
    ]
    encoding = draw(encodings)
    length = draw(lengths)
    if encoding and "chunked" in encoding and draw(st.booleans()):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    if encoding:
        head.append(f"Transfer-Encoding: {encoding}")
    head.append(f"Content-Length: {len(body) if length is None else length}")
    head.append("Connection: close")
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body


def _check_answer(raw: bytes) -> None:
    if not raw:
        return  # closed without an answer (e.g. an unreadable request head)
    assert raw.startswith(b"HTTP/1."), raw[:200]
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status != 500 and 200 <= status < 600, raw[:400]
    if status != 200 and body:
        assert "error" in json.loads(body), raw[:400]


def test_fuzzed_requests_never_hang_crash_or_grow(server):
    still_answers(server)
    rss_before = _rss_mb(server.pid)

    @settings(
        max_examples=50,
        deadline=timedelta(seconds=READ_TIMEOUT + 8),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(requests(), st.sampled_from(["read", "half-close", "hang up"]))
    def case(data: bytes, ending: str) -> None:
        with connect(server, timeout=READ_TIMEOUT + 6) as sock:
            try:
                sock.sendall(data)
                if ending == "half-close":
                    sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before all of it was sent: the answer is still read below
            if ending == "hang up":
                sock.close()
                still_answers(server)
                return
            try:
                _check_answer(read_all(sock))
            except TimeoutError:
                raise AssertionError(f"no answer and no close for {data[:200]!r}") from None
        still_answers(server)

    case()
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    assert _rss_mb(server.pid) - rss_before < 200, (rss_before, _rss_mb(server.pid))
