"""The REST API of `tfcompare serve --rest-port`, shaped like TF Serving's (plain urllib client)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
import stub_client as sc

pytestmark = pytest.mark.slow


def call(rest: str, path: str, body: object | bytes | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{rest}{path}", data=data, method="GET" if data is None else "POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def test_rest_status_and_metadata(backend_pair):
    rest = backend_pair.two.rest
    assert rest and backend_pair.one.rest is None
    status, body = call(rest, "/v1/models/tiny")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert call(rest, "/v1/models/tiny/versions/1")[0] == 200
    status, body = call(rest, "/v1/models/tiny/metadata")
    assert (
        status == 200
        and body["model_spec"]["name"] == "tiny"
        and body["model_spec"]["version"] == "1"
    )
    sig = body["metadata"]["signature_def"]["signature_def"]["predict_images"]
    assert sig["inputs"]["images"]["dtype"] == "DT_STRING"
    assert sig["inputs"]["images"]["tensor_shape"]["dim"] == [{"size": "-1"}]
    assert set(sig["outputs"]) == {"classes", "scores"}


def test_rest_predict_row_and_columnar(backend_pair):
    rest, data = backend_pair.two.rest, sc.encode(sc.pattern(seed=5))
    expected = [
        c.decode()
        for c in sc.predict(backend_pair.two.grpc, sc.predict_request(data))
        .outputs["classes"]
        .string_val
    ]
    status, body = call(rest, "/v1/models/tiny:predict", {"instances": [b64(data), b64(data)]})
    assert status == 200 and len(body["predictions"]) == 2
    assert body["predictions"][0]["classes"] == expected
    assert len(body["predictions"][1]["scores"]) == 5
    status, body = call(
        rest,
        "/v1/models/tiny/versions/1:predict",
        {"signature_name": "predict_images", "inputs": {"images": [b64(data)]}},
    )
    assert status == 200 and body["outputs"]["classes"] == [expected]
    status, body = call(rest, "/v1/models/tiny:predict", {"instances": [{"images": b64(data)}]})
    assert status == 200 and body["predictions"][0]["classes"] == expected


@pytest.mark.parametrize(
    ("path", "body", "code", "text"),
    [
        ("/v1/models/nope", None, 404, "nope"),
        ("/v1/models/tiny/versions/4", None, 404, "4"),
        ("/v1/models/nope:predict", {"instances": []}, 404, "nope"),
        ("/v1/models/tiny/versions/9:predict", {"instances": [{"b64": ""}]}, 404, "9"),
        ("/v1/models/tiny:predict", b"{not json", 400, "JSON"),
        ("/v1/models/tiny:predict", {"instances": [{"b64": "***"}]}, 400, "base64"),
        ("/v1/models/tiny:predict", {"instances": [b64(b"not an image")]}, 400, "image"),
        ("/v1/models/tiny:predict", {"signature_name": "x", "instances": [{"b64": ""}]}, 400, "x"),
        (
            "/v1/models/tiny:predict",
            {"inputs": {"pixels": [b64(b"x")]}},
            400,
            "Missing named input: images",
        ),
        ("/v1/models/tiny:predict", {"neither": 1}, 400, "instances"),
        ("/v1/bogus", None, 400, "Malformed"),
    ],
)
def test_rest_errors(backend_pair, path, body, code, text):
    status, answer = call(backend_pair.two.rest, path, body)
    assert status == code, answer
    assert list(answer) == ["error"] and text in answer["error"]


def test_rest_keep_alive(backend_pair):
    """Several requests over one HTTP/1.1 connection, errors included (TF Serving keeps it open)."""
    import http.client

    host, port = backend_pair.two.rest.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"instances": [b64(sc.encode(sc.pattern()))]})
    try:
        for path, payload, code in (
            ("/v1/models/tiny", None, 200),
            ("/v1/models/tiny:predict", body, 200),
            ("/v1/models/nope", None, 404),
            ("/v1/models/tiny:predict", body, 200),
        ):
            conn.request(
                "GET" if payload is None else "POST",
                path,
                body=payload,
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            assert (
                response.status == code and response.getheader("Content-Type") == "application/json"
            )
            assert json.loads(response.read())
            assert not response.will_close
    finally:
        conn.close()
