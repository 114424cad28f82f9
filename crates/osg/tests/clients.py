#!/usr/bin/env python3
"""Drives a real `osg serve` with the aws CLI, boto3 (SigV4, SigV2, presigned URLs, POST
policy) and s3cmd, plus raw signed requests for the bad-input cases no SDK will send.

Usage: clients.py --osg PATH/TO/osg
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
import httpx
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# Never let a client look for credentials on a cloud metadata address.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

ACCESS_KEY = "AKCLIENTSTEST0000000"
SECRET_KEY = "clients-test-secret-0000000000000000000000"
DOMAIN = "s3.localhost"

passed = 0
failed = []
# Every secret the checks handle; none may appear in the gateway's trace-level log.
secrets = [SECRET_KEY]


def check(name):
    """Decorator: run a check, record pass or failure, go on."""

    def wrap(fn):
        global passed
        try:
            fn()
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return fn

    return wrap


def watch_command_lines(seen, stop):
    """Collects every process's command line on this machine until `stop` is set."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.add(f.read())
            except OSError:
                pass
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(osg, data_dir, port, *extra, log=None):
    env = dict(os.environ, OSG_ADMIN_ACCESS_KEY=ACCESS_KEY, OSG_ADMIN_SECRET_KEY=SECRET_KEY)
    if log:
        env["RUST_LOG"] = "trace"
    errors = log or tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [osg, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--domain", DOMAIN, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    started = time.time()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.time() > started + 30 or proc.poll() is not None:
                proc.kill()
                proc.wait()
                said = ""
                if not log:
                    errors.seek(0)
                    said = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(
                    f"osg did not start (exit {proc.returncode} after {time.time() - started:.1f} s): {said}"
                )
            time.sleep(0.05)


def self_signed(cert_path, key_path):
    """A throwaway certificate for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error")


def signed(method, url, body=b"", headers=None, host=None, send=None):
    """A SigV4-signed request, sent as is (for bodies and hosts SDKs will not produce); `send`
    replaces the signed body on the wire."""
    headers = dict(headers or {})
    if host:
        headers["Host"] = host
    headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    return requests.request(method, url, data=body if send is None else send, headers=dict(req.headers.items()))


def streaming_put(endpoint, path, data, chunk_size, trailer=None, corrupt_chunk=None, declared_chunk=None):
    """A PUT in SigV4 signed aws-chunked encoding, with an optional signed trailer, built by
    hand: the SDKs here only send unsigned chunks. Returns the response."""
    import base64
    import hmac

    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        "x-amz-content-sha256": mode,
        "x-amz-decoded-content-length": str(len(data)),
        "Content-Encoding": "aws-chunked",
        "x-amz-date": amz_date,
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]

    def sign(msg):
        key = ("AWS4" + SECRET_KEY).encode()
        for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()

    # The seed signature covers the headers; botocore's signer would replace the payload mode.
    host = endpoint.split("://", 1)[1]
    signed = {k.lower(): v for k, v in headers.items()} | {"host": host}
    names = sorted(signed)
    canonical = "\n".join(
        ["PUT", path, "", "".join(f"{k}:{signed[k]}\n" for k in names), ";".join(names), mode]
    )
    prev = sign(f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}")
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, Signature={prev}"
    )

    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for i, chunk in enumerate(chunks):
        prev = sign(f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{empty}\n{hashlib.sha256(chunk).hexdigest()}")
        sent = chunk[:-1] + b"!" if i == corrupt_chunk else chunk
        size = declared_chunk if declared_chunk is not None and chunk else len(chunk)
        body += f"{size:x};chunk-signature={prev}\r\n".encode() + (sent + b"\r\n" if chunk else b"")
    if trailer:
        name, value = trailer
        canonical = f"{name}:{value}\n"
        sig = sign(f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{prev}\n{hashlib.sha256(canonical.encode()).hexdigest()}")
        body += f"{name}:{value}\r\nx-amz-trailer-signature:{sig}\r\n".encode()
    body += b"\r\n"
    headers["Content-Length"] = str(len(body))
    return requests.put(f"{endpoint}{path}", data=body, headers=headers)


def signed_iam(endpoint, keys, params):
    """An IAM Query API call the aws CLI has no command for (the account actions)."""
    from urllib.parse import urlencode

    body = urlencode(dict(params, Version="2010-05-08"))
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = AWSRequest(method="POST", url=f"{endpoint}/", data=body, headers=headers)
    SigV4Auth(Credentials(*keys), "iam", "us-east-1").add_auth(req)
    return requests.post(f"{endpoint}/", data=body, headers=dict(req.headers.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--osg", required=True)
    osg = parser.parse_args().osg
    work = tempfile.mkdtemp(prefix="osg-clients-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = os.path.join(work, "gateway.log")
    command_lines, stop_watching = set(), threading.Event()
    watcher = threading.Thread(target=watch_command_lines, args=(command_lines, stop_watching))
    watcher.start()
    with open(log_path, "wb") as log:
        proc = start(osg, os.path.join(work, "data"), port, log=log)
    try:
        run_checks(osg, work, endpoint, port)
    finally:
        proc.kill()
        proc.wait()
        stop_watching.set()
        watcher.join()

    @check("no secret in the gateway's trace-level log")
    def _():
        text = open(log_path, "rb").read()
        assert len(text) > 10_000, "the log is suspiciously short"
        leaked = [sec for sec in secrets if sec.encode() in text]
        assert not leaked, f"{len(leaked)} secrets leaked into the log"

    @check("no secret in the metadata store's files or on any process's command line")
    def _():
        data = os.path.join(work, "data")
        stored = b"".join(open(os.path.join(data, f), "rb").read() for f in os.listdir(data) if f.startswith("meta"))
        assert len(stored) > 10_000, "the database is suspiciously small"
        leaked = [sec for sec in secrets if sec.encode() in stored]
        assert not leaked, f"{len(leaked)} secrets found in the database files"
        assert len(command_lines) > 20, "the command-line watcher saw too little"
        seen = b"\n".join(command_lines)
        leaked = [sec for sec in secrets if sec.encode() in seen]
        assert not leaked, f"{len(leaked)} secrets found on command lines"

    shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


def run_checks(osg, work, endpoint, port):
    data_dir = os.path.join(work, "data")
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(12 * 1024 * 1024 + 17))
    big_md5 = hashlib.md5(open(big, "rb").read()).hexdigest()

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )

    @check("admin.credentials written 0600 with the key pair")
    def _():
        path = os.path.join(data_dir, "admin.credentials")
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        text = open(path).read()
        assert "[default]" in text and ACCESS_KEY in text and SECRET_KEY in text

    @check("the secret is sealed at rest: not in the database, master key 0600 outside it")
    def _():
        assert oct(os.stat(os.path.join(data_dir, "master.key")).st_mode & 0o777) == "0o600"
        for name in os.listdir(data_dir):
            if name.startswith("meta.db"):
                with open(os.path.join(data_dir, name), "rb") as f:
                    content = f.read()
                assert SECRET_KEY.encode() not in content, name

    @check("aws cli: mb, multipart cp up and down, ls, rm, rb")
    def _():
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION="us-east-1",
        )
        aws = ["aws", "--endpoint-url", endpoint]
        run = lambda *a: subprocess.run(aws + list(a), env=env, check=True, capture_output=True, text=True).stdout
        run("s3", "mb", "s3://cli-bucket")
        run("s3", "cp", big, "s3://cli-bucket/dir/big.bin")
        listing = run("s3", "ls", "s3://cli-bucket/dir/")
        assert "big.bin" in listing and str(12 * 1024 * 1024 + 17) in listing, listing
        back = os.path.join(work, "big.back")
        run("s3", "cp", "s3://cli-bucket/dir/big.bin", back)
        assert hashlib.md5(open(back, "rb").read()).hexdigest() == big_md5
        head = run("s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big.bin")
        assert '"ContentLength": 12582929' in head, head
        attrs = run(
            "s3api", "get-object-attributes", "--bucket", "cli-bucket", "--key", "dir/big.bin",
            "--object-attributes", "ObjectParts", "ObjectSize",
        )
        assert '"TotalPartsCount": 2' in attrs and '"ObjectSize": 12582929' in attrs, attrs
        run("s3", "rm", "s3://cli-bucket/dir/big.bin")
        run("s3", "rb", "s3://cli-bucket")

    @check("boto3 SigV4: put, get, list, copy, delete")
    def _():
        s3.create_bucket(Bucket="boto-bucket")
        s3.put_object(Bucket="boto-bucket", Key="a/b c", Body=b"hello", Metadata={"k": "v"})
        got = s3.get_object(Bucket="boto-bucket", Key="a/b c")
        assert got["Body"].read() == b"hello" and got["Metadata"] == {"k": "v"}
        s3.copy_object(Bucket="boto-bucket", Key="copy", CopySource={"Bucket": "boto-bucket", "Key": "a/b c"})
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="boto-bucket")["Contents"]]
        assert keys == ["a/b c", "copy"], keys
        s3.upload_file(big, "boto-bucket", "big")  # multipart through boto3's transfer manager
        assert s3.head_object(Bucket="boto-bucket", Key="big")["ContentLength"] == 12 * 1024 * 1024 + 17

    @check("boto3 checksums: CRC32C and CRC64NVME via trailers")
    def _():
        for algo in ["CRC32C", "CRC64NVME", "SHA256"]:
            out = s3.put_object(Bucket="boto-bucket", Key=f"ck-{algo}", Body=b"x" * 70000, ChecksumAlgorithm=algo)
            got = s3.head_object(Bucket="boto-bucket", Key=f"ck-{algo}", ChecksumMode="ENABLED")
            assert got[f"Checksum{algo}"] == out[f"Checksum{algo}"], algo

    @check("boto3: conditional writes, a retried CompleteMultipartUpload, 304 with its ETag, a missing part")
    def _():
        s3.create_bucket(Bucket="fidelity")
        first = s3.put_object(Bucket="fidelity", Key="k", Body=b"one")
        put = lambda **kw: s3.put_object(Bucket="fidelity", Key="k", Body=b"two", **kw)
        assert error_code(lambda: put(IfNoneMatch=first["ETag"])) == ("PreconditionFailed", 412)
        assert error_code(lambda: put(IfMatch='"0cc175b9c0f1b6a831c399e269772661"')) == ("PreconditionFailed", 412)
        put(IfNoneMatch='"0cc175b9c0f1b6a831c399e269772661"')
        etag = s3.head_object(Bucket="fidelity", Key="k")["ETag"]
        try:
            s3.get_object(Bucket="fidelity", Key="k", IfNoneMatch=etag)
            raise AssertionError("expected 304")
        except ClientError as e:
            meta = e.response["ResponseMetadata"]
            assert meta["HTTPStatusCode"] == 304 and meta["HTTPHeaders"]["etag"] == etag, meta
        up = s3.create_multipart_upload(Bucket="fidelity", Key="mp")["UploadId"]
        part = s3.upload_part(Bucket="fidelity", Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 1000)
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        complete = lambda **kw: s3.complete_multipart_upload(
            Bucket="fidelity", Key="mp", UploadId=up, MultipartUpload=parts, **kw
        )
        done = complete(IfNoneMatch="*")
        assert complete()["ETag"] == done["ETag"]  # the retry of a completion whose answer was lost
        assert s3.get_object(Bucket="fidelity", Key="mp")["Body"].read() == b"p" * 1000
        assert error_code(lambda: s3.get_object(Bucket="fidelity", Key="mp", PartNumber=2)) == ("InvalidPartNumber", 400)

    @check("boto3 multipart checksums: FULL_OBJECT CRC64NVME, COMPOSITE CRC32C, GetObjectAttributes")
    def _():
        data = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
        # The expected values from single PUTs, which botocore computes and the gateway checks.
        whole = s3.put_object(Bucket="fidelity", Key="whole", Body=b"".join(data), ChecksumAlgorithm="CRC64NVME")
        results = {}
        for key, algo, kind in [("full", "CRC64NVME", "FULL_OBJECT"), ("composite", "CRC32C", "COMPOSITE")]:
            up = s3.create_multipart_upload(Bucket="fidelity", Key=key, ChecksumAlgorithm=algo, ChecksumType=kind)
            assert up["ChecksumType"] == kind, up
            parts = []
            for n, body in enumerate(data, 1):
                p = s3.upload_part(
                    Bucket="fidelity", Key=key, UploadId=up["UploadId"], PartNumber=n, Body=body, ChecksumAlgorithm=algo
                )
                parts.append({"PartNumber": n, "ETag": p["ETag"], f"Checksum{algo}": p[f"Checksum{algo}"]})
            results[key] = (parts, s3.complete_multipart_upload(
                Bucket="fidelity", Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
            ))
        parts, done = results["full"]
        assert done["ChecksumCRC64NVME"] == whole["ChecksumCRC64NVME"] and done["ChecksumType"] == "FULL_OBJECT", done
        parts, done = results["composite"]
        raw = b"".join(base64.b64decode(p["ChecksumCRC32C"]) for p in parts)
        of_raw = s3.put_object(Bucket="fidelity", Key="raw", Body=raw, ChecksumAlgorithm="CRC32C")["ChecksumCRC32C"]
        assert done["ChecksumCRC32C"] == f"{of_raw}-2", (done, of_raw)
        got = s3.head_object(Bucket="fidelity", Key="composite", ChecksumMode="ENABLED")
        assert got["ChecksumCRC32C"] == f"{of_raw}-2" and got["ChecksumType"] == "COMPOSITE", got
        attrs = s3.get_object_attributes(
            Bucket="fidelity", Key="composite", ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"]
        )
        assert attrs["Checksum"]["ChecksumCRC32C"] == f"{of_raw}-2", attrs
        assert attrs["ObjectSize"] == 5 * 1024 * 1024 + 1000, attrs
        listed = attrs["ObjectParts"]
        assert listed["TotalPartsCount"] == 2, listed
        assert [p["ChecksumCRC32C"] for p in listed["Parts"]] == [p["ChecksumCRC32C"] for p in parts], listed

    @check("boto3 and the aws cli: a versioned bucket's life, then suspended")
    def _():
        s3.create_bucket(Bucket="versioned")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        aws = lambda *a: subprocess.run(
            ["aws", "--endpoint-url", endpoint, "s3api", *a], env=env, check=True, capture_output=True, text=True
        ).stdout
        aws("put-bucket-versioning", "--bucket", "versioned", "--versioning-configuration", "Status=Enabled")
        assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
        v1 = s3.put_object(Bucket="versioned", Key="k", Body=b"one")["VersionId"]
        v2 = s3.put_object(Bucket="versioned", Key="k", Body=b"two")["VersionId"]
        assert v1 != v2 and "null" not in (v1, v2)
        assert s3.get_object(Bucket="versioned", Key="k", VersionId=v1)["Body"].read() == b"one"
        marker = s3.delete_object(Bucket="versioned", Key="k")
        assert marker["DeleteMarker"] is True, marker
        assert error_code(lambda: s3.get_object(Bucket="versioned", Key="k")) == ("NoSuchKey", 404)
        listed = json.loads(aws("list-object-versions", "--bucket", "versioned"))
        assert [v["VersionId"] for v in listed["Versions"]] == [v2, v1], listed
        assert listed["DeleteMarkers"][0]["VersionId"] == marker["VersionId"], listed
        assert listed["DeleteMarkers"][0]["IsLatest"] is True, listed
        s3.delete_object(Bucket="versioned", Key="k", VersionId=marker["VersionId"])
        assert s3.get_object(Bucket="versioned", Key="k")["Body"].read() == b"two"
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Suspended"})
        assert s3.put_object(Bucket="versioned", Key="k", Body=b"three").get("VersionId") == "null"
        assert s3.put_object(Bucket="versioned", Key="k", Body=b"four").get("VersionId") == "null"
        ids = [v["VersionId"] for v in s3.list_object_versions(Bucket="versioned")["Versions"]]
        assert ids == ["null", v2, v1], ids
        # Emptying a versioned bucket, as cleaning tools do: every version and marker, then the bucket.
        s3.delete_object(Bucket="versioned", Key="k")
        listed = s3.list_object_versions(Bucket="versioned")
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"] + listed["DeleteMarkers"]]
        out = s3.delete_objects(Bucket="versioned", Delete={"Objects": doomed})
        assert not out.get("Errors") and len(out["Deleted"]) == len(doomed), out
        s3.delete_bucket(Bucket="versioned")

    @check("boto3 and the aws cli: Object Lock refusals and the GOVERNANCE bypass")
    def _():
        import datetime
        s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        aws = lambda *a: subprocess.run(
            ["aws", "--endpoint-url", endpoint, "s3api", *a], env=env, check=True, capture_output=True, text=True
        ).stdout
        aws(
            "put-object-lock-configuration", "--bucket", "locked", "--object-lock-configuration",
            '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}',
        )
        got = json.loads(aws("get-object-lock-configuration", "--bucket", "locked"))
        assert got["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}, got
        v = s3.put_object(Bucket="locked", Key="k", Body=b"kept")["VersionId"]
        assert s3.get_object_retention(Bucket="locked", Key="k", VersionId=v)["Retention"]["Mode"] == "GOVERNANCE"
        assert error_code(lambda: s3.delete_object(Bucket="locked", Key="k", VersionId=v)) == ("AccessDenied", 403)
        # COMPLIANCE cannot be shortened, even with the bypass; GOVERNANCE can be lifted with it.
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        c = s3.put_object(Bucket="locked", Key="c", Body=b"c", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
        shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": until - datetime.timedelta(minutes=30)}
        assert error_code(lambda: s3.put_object_retention(
            Bucket="locked", Key="c", VersionId=c["VersionId"], Retention=shorter, BypassGovernanceRetention=True
        )) == ("AccessDenied", 403)
        s3.put_object_legal_hold(Bucket="locked", Key="k", VersionId=v, LegalHold={"Status": "ON"})
        assert s3.get_object_legal_hold(Bucket="locked", Key="k", VersionId=v)["LegalHold"]["Status"] == "ON"
        assert error_code(lambda: s3.delete_object(
            Bucket="locked", Key="k", VersionId=v, BypassGovernanceRetention=True
        )) == ("AccessDenied", 403)
        s3.put_object_legal_hold(Bucket="locked", Key="k", VersionId=v, LegalHold={"Status": "OFF"})
        s3.delete_object(Bucket="locked", Key="k", VersionId=v, BypassGovernanceRetention=True)
        assert error_code(lambda: s3.put_bucket_versioning(
            Bucket="locked", VersioningConfiguration={"Status": "Suspended"}
        )) == ("InvalidBucketState", 409)

    @check("boto3 and the aws cli: lifecycle rules checked, shown and run on a shortened day, versioned too")
    def _():
        s3.create_bucket(Bucket="lifecycle")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        aws = lambda *a: subprocess.run(
            ["aws", "--endpoint-url", endpoint, "s3api", *a], env=env, check=True, capture_output=True, text=True
        ).stdout
        subprocess.run([osg, "admin", "--data-dir", data_dir, "property", "set", "osg.lifecycle.day-seconds", "1"],
                       check=True, capture_output=True)
        rules = {"Rules": [
            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
            {"ID": "uploads", "Status": "Enabled", "Filter": {},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        ]}
        aws("put-bucket-lifecycle-configuration", "--bucket", "lifecycle", "--lifecycle-configuration", json.dumps(rules))
        got = s3.get_bucket_lifecycle_configuration(Bucket="lifecycle")["Rules"]
        assert [r["ID"] for r in got] == ["tmp", "uploads"], got
        assert got[0]["Filter"] == {"Prefix": "tmp/"} and got[0]["Expiration"] == {"Days": 1}, got
        bad = {"Rules": [{"ID": "t", "Status": "Enabled", "Filter": {},
                          "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}
        assert error_code(lambda: s3.put_bucket_lifecycle_configuration(
            Bucket="lifecycle", LifecycleConfiguration=bad)) == ("NotImplemented", 501)
        put = s3.put_object(Bucket="lifecycle", Key="tmp/a", Body=b"short-lived")
        assert 'rule-id="tmp"' in put["Expiration"], put
        upload = s3.create_multipart_upload(Bucket="lifecycle", Key="big")
        assert upload["AbortRuleId"] == "uploads", upload
        s3.put_object(Bucket="lifecycle", Key="keep", Body=b"kept")
        deadline = time.monotonic() + 30
        while True:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lifecycle").get("Contents", [])]
            uploads = s3.list_multipart_uploads(Bucket="lifecycle").get("Uploads", [])
            if keys == ["keep"] and not uploads:
                break
            assert time.monotonic() < deadline, (keys, uploads)
            time.sleep(0.2)
        aws("delete-bucket-lifecycle", "--bucket", "lifecycle")
        assert error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket="lifecycle")) == (
            "NoSuchLifecycleConfiguration", 404)
        # A versioned bucket: noncurrent versions expire (the newest one kept), then a delete
        # marker left alone.
        s3.create_bucket(Bucket="lifecycle-v")
        s3.put_bucket_versioning(Bucket="lifecycle-v", VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_lifecycle_configuration(Bucket="lifecycle-v", LifecycleConfiguration={"Rules": [
            {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "k"},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
            {"ID": "gone", "Status": "Enabled", "Filter": {"Prefix": "d"},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
             "Expiration": {"ExpiredObjectDeleteMarker": True}},
        ]})
        ids = [s3.put_object(Bucket="lifecycle-v", Key="k", Body=b"%d" % n)["VersionId"] for n in range(3)]
        s3.put_object(Bucket="lifecycle-v", Key="d", Body=b"deleted")
        s3.delete_object(Bucket="lifecycle-v", Key="d")
        deadline = time.monotonic() + 30
        while True:
            listed = json.loads(aws("list-object-versions", "--bucket", "lifecycle-v"))
            left = [v["VersionId"] for v in listed.get("Versions", [])]
            if left == [ids[2], ids[1]] and not listed.get("DeleteMarkers"):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.2)

    @check("boto3 and the aws cli: SSE-S3 by request and bucket default, SSE-C (its key in no log, file or command line)")
    def _():
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        aws = lambda *a: subprocess.run(
            ["aws", "--endpoint-url", endpoint, *a], env=env, check=True, capture_output=True, text=True
        ).stdout
        s3.create_bucket(Bucket="sse")
        put = s3.put_object(Bucket="sse", Key="s3", Body=b"sealed by the gateway", ServerSideEncryption="AES256")
        assert put["ServerSideEncryption"] == "AES256", put
        got = s3.get_object(Bucket="sse", Key="s3")
        assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == b"sealed by the gateway"
        aws("s3api", "put-bucket-encryption", "--bucket", "sse", "--server-side-encryption-configuration",
            json.dumps({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}))
        aws("s3", "cp", big, "s3://sse/big")
        head = s3.head_object(Bucket="sse", Key="big")
        assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == os.path.getsize(big), head
        back = os.path.join(work, "big.back")
        aws("s3", "cp", "s3://sse/big", back)
        assert hashlib.md5(open(back, "rb").read()).hexdigest() == big_md5
        # SSE-C: plain HTTP refused until the property allows it (this gateway has no TLS).
        key = os.urandom(32)
        secrets.extend([base64.b64encode(key).decode(), key.hex()])
        assert error_code(lambda: s3.put_object(Bucket="sse", Key="c", Body=b"x", SSECustomerAlgorithm="AES256",
                                                SSECustomerKey=key)) == ("InvalidRequest", 400)
        subprocess.run([osg, "admin", "--data-dir", data_dir, "property", "set", "s3.sse-c.allow-http", "true"],
                       check=True, capture_output=True)
        time.sleep(2.5)
        s3.put_object(Bucket="sse", Key="c", Body=b"the customer's", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
        assert error_code(lambda: s3.get_object(Bucket="sse", Key="c")) == ("InvalidRequest", 400)
        got = s3.get_object(Bucket="sse", Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
        assert got["Body"].read() == b"the customer's" and got["SSECustomerAlgorithm"] == "AES256"
        # The aws cli takes the key from a file, never the command line; multipart (12 MiB).
        key_file = os.path.join(work, "sse-c.key")
        with open(key_file, "wb") as f:
            f.write(key)
        sse_c = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
        aws("s3", "cp", big, "s3://sse/big-c", *sse_c)
        aws("s3", "cp", "s3://sse/big-c", back, *sse_c)
        assert hashlib.md5(open(back, "rb").read()).hexdigest() == big_md5
        os.remove(key_file)

    @check("boto3 and the aws cli: bucket tags and CORS rules")
    def _():
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        aws = lambda *a: subprocess.run(
            ["aws", "--endpoint-url", endpoint, "s3api", *a], env=env, check=True, capture_output=True, text=True
        ).stdout
        s3.create_bucket(Bucket="web")
        aws("put-bucket-tagging", "--bucket", "web", "--tagging", "TagSet=[{Key=team,Value=web},{Key=cost,Value=7}]")
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="web")["TagSet"]}
        assert tags == {"team": "web", "cost": "7"}, tags
        rules = {"CORSRules": [{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"],
                                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 300}]}
        aws("put-bucket-cors", "--bucket", "web", "--cors-configuration", json.dumps(rules))
        assert s3.get_bucket_cors(Bucket="web")["CORSRules"] == rules["CORSRules"]
        pre = requests.options(f"{endpoint}/web/k", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type"})
        assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == "https://app.example", pre
        s3.delete_bucket_cors(Bucket="web")
        s3.delete_bucket_tagging(Bucket="web")
        assert error_code(lambda: s3.get_bucket_tagging(Bucket="web")) == ("NoSuchTagSet", 404)

    @check("boto3 SigV2: put, get, list; wrong secret refused")
    def _():
        v2 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(signature_version="s3", s3={"addressing_style": "path"}),
        )
        v2.put_object(Bucket="boto-bucket", Key="v2", Body=b"sigv2 body")
        assert v2.get_object(Bucket="boto-bucket", Key="v2")["Body"].read() == b"sigv2 body"
        assert any(o["Key"] == "v2" for o in v2.list_objects(Bucket="boto-bucket")["Contents"])
        bad = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="wrong",
            region_name="us-east-1",
            config=Config(signature_version="s3", s3={"addressing_style": "path"}),
        )
        assert error_code(lambda: bad.list_buckets()) == ("SignatureDoesNotMatch", 403)

    @check("presigned URLs: SigV4 put and get, SigV2 get, expired refused")
    def _():
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "boto-bucket", "Key": "pre"}, ExpiresIn=300)
        assert requests.put(url, data=b"presigned").status_code == 200
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "pre"}, ExpiresIn=300)
        assert requests.get(url).content == b"presigned"
        v2 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(signature_version="s3", s3={"addressing_style": "path"}),
        )
        url = v2.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "pre"}, ExpiresIn=300)
        assert "Signature=" in url and "AWSAccessKeyId=" in url, url
        assert requests.get(url).content == b"presigned"
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "pre"}, ExpiresIn=1)
        time.sleep(2)
        r = requests.get(url)
        assert r.status_code == 403 and b"AccessDenied" in r.content, r.content

    @check("POST policy (browser form) upload")
    def _():
        post = s3.generate_presigned_post(
            "boto-bucket",
            "uploads/form.txt",
            Conditions=[["content-length-range", 1, 1 << 20]],
            ExpiresIn=300,
        )
        r = requests.post(post["url"], data=post["fields"], files={"file": ("form.txt", b"form body")})
        assert r.status_code in (200, 204), (r.status_code, r.content)
        assert s3.get_object(Bucket="boto-bucket", Key="uploads/form.txt")["Body"].read() == b"form body"
        post = s3.generate_presigned_post(
            "boto-bucket", "too-big", Conditions=[["content-length-range", 1, 4]], ExpiresIn=300
        )
        r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"more than four bytes")})
        assert r.status_code == 400, (r.status_code, r.content)
        # The form's key is authorized like a PUT's: a Deny on it holds.
        deny = ('{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",'
                '"Resource":"arn:aws:s3:::boto-bucket/protected/*"}}')
        s3.put_bucket_policy(Bucket="boto-bucket", Policy=deny)
        try:
            post = s3.generate_presigned_post("boto-bucket", "protected/x", ExpiresIn=300)
            r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"nope")})
            assert r.status_code == 403 and b"AccessDenied" in r.content, (r.status_code, r.content)
        finally:
            s3.delete_bucket_policy(Bucket="boto-bucket")
        assert error_code(lambda: s3.head_object(Bucket="boto-bucket", Key="protected/x"))[1] == 404

    @check("s3cmd: mb, put, ls, get, del, rb")
    def _():
        cfg = os.path.join(work, "s3cfg")
        with open(cfg, "w") as f:
            f.write(
                "[default]\n"
                f"access_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\n"
                f"host_base = 127.0.0.1:{port}\nhost_bucket = 127.0.0.1:{port}\n"
                "use_https = False\nbucket_location = us-east-1\n"
            )
        s3cmd = ["s3cmd", "-c", cfg]
        run = lambda *a: subprocess.run(s3cmd + list(a), check=True, capture_output=True, text=True).stdout
        run("mb", "s3://s3cmd-bucket")
        run("put", big, "s3://s3cmd-bucket/big")  # s3cmd uploads files over 15 MB in parts; this is one PUT
        assert "s3://s3cmd-bucket/big" in run("ls", "s3://s3cmd-bucket")
        back = os.path.join(work, "s3cmd.back")
        run("get", "s3://s3cmd-bucket/big", back)
        assert hashlib.md5(open(back, "rb").read()).hexdigest() == big_md5
        run("del", "s3://s3cmd-bucket/big")
        run("rb", "s3://s3cmd-bucket")

    @check("virtual-hosted style under --domain")
    def _():
        r = signed("GET", f"{endpoint}/a/b%20c", host=f"boto-bucket.{DOMAIN}:{port}")
        assert r.status_code == 200 and r.content == b"hello", (r.status_code, r.content)

    @check("signed aws-chunked uploads, with and without a signed trailer")
    def _():
        import base64
        import zlib

        data = os.urandom(200_000)
        r = streaming_put(endpoint, "/boto-bucket/chunked", data, 64 * 1024)
        assert r.status_code == 200, (r.status_code, r.content)
        assert s3.get_object(Bucket="boto-bucket", Key="chunked")["Body"].read() == data
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        r = streaming_put(endpoint, "/boto-bucket/trailed", data, 64 * 1024, trailer=("x-amz-checksum-crc32", crc))
        assert r.status_code == 200, (r.status_code, r.content)
        got = s3.head_object(Bucket="boto-bucket", Key="trailed", ChecksumMode="ENABLED")
        assert got["ChecksumCRC32"] == crc, got
        r = streaming_put(endpoint, "/boto-bucket/badcrc", data, 64 * 1024, trailer=("x-amz-checksum-crc32", "AAAAAA=="))
        assert r.status_code == 400 and b"BadDigest" in r.content, (r.status_code, r.content)

    @check("a bad chunk signature is SignatureDoesNotMatch; nothing is stored")
    def _():
        r = streaming_put(endpoint, "/boto-bucket/tampered", os.urandom(150_000), 64 * 1024, corrupt_chunk=1)
        assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content, (r.status_code, r.content)
        assert error_code(lambda: s3.head_object(Bucket="boto-bucket", Key="tampered"))[1] == 404

    @check("a chunk declared larger than 16 MiB is refused before it is gathered")
    def _():
        r = streaming_put(endpoint, "/boto-bucket/huge", b"x" * 1000, 1000, declared_chunk=1 << 30)
        assert r.status_code == 400, (r.status_code, r.content)
        assert error_code(lambda: s3.head_object(Bucket="boto-bucket", Key="huge"))[1] == 404

    @check("a body that differs from its signed SHA-256 is refused and not stored")
    def _():
        r = signed("PUT", f"{endpoint}/boto-bucket/swapped", b"signed body", send=b"other body!")
        assert r.status_code == 400 and b"XAmzContentSHA256Mismatch" in r.content, (r.status_code, r.content)
        assert error_code(lambda: s3.head_object(Bucket="boto-bucket", Key="swapped"))[1] == 404

    @check("malformed XML is MalformedXML with RequestId and Resource")
    def _():
        body = b"<Delete><Object><Key>x</Key>"
        md5 = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
        r = signed("POST", f"{endpoint}/boto-bucket?delete", body, {"Content-MD5": md5})
        assert r.status_code == 400, (r.status_code, r.content)
        text = r.text
        assert "<Code>MalformedXML</Code>" in text, text
        assert f"<RequestId>{r.headers['x-amz-request-id']}</RequestId>" in text, text
        assert "<Resource>/boto-bucket</Resource>" in text, text

    @check("truncated body is IncompleteBody and stores nothing")
    def _():
        url = f"{endpoint}/boto-bucket/truncated"
        req = AWSRequest(method="PUT", url=url, data=b"", headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        req.headers["Content-Length"] = "100"
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
        head = f"PUT /boto-bucket/truncated HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        for k, v in req.headers.items():
            if k.lower() != "host":
                head += f"{k}: {v}\r\n"
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(head.encode() + b"\r\n" + b"x" * 50)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            reply += chunk
        sock.close()
        assert b" 400 " in reply.split(b"\r\n")[0] and b"IncompleteBody" in reply, reply
        assert error_code(lambda: s3.head_object(Bucket="boto-bucket", Key="truncated"))[1] == 404

    @check("HTTPS with --tls-cert/--tls-key, HTTP/1.1 and HTTP/2; an HTTPS provider trusted through --ca-file")
    def _():
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        self_signed(cert, key)
        tls_port = free_port()
        proc = start(osg, os.path.join(work, "tls-data"), tls_port, "--tls-cert", cert, "--tls-key", key)
        try:
            tls = boto3.client(
                "s3",
                endpoint_url=f"https://127.0.0.1:{tls_port}",
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                region_name="us-east-1",
                verify=cert,
                config=Config(s3={"addressing_style": "path"}),
            )
            tls.create_bucket(Bucket="tls-bucket")
            tls.put_object(Bucket="tls-bucket", Key="k", Body=b"over tls")
            assert tls.get_object(Bucket="tls-bucket", Key="k")["Body"].read() == b"over tls"
            # SSE-C over HTTPS needs no property.
            key = os.urandom(32)
            secrets.append(base64.b64encode(key).decode())
            tls.put_object(Bucket="tls-bucket", Key="c", Body=b"sse-c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
            got = tls.get_object(Bucket="tls-bucket", Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
            assert got["Body"].read() == b"sse-c"
            with httpx.Client(http2=True, verify=cert) as h2:
                assert h2.get(f"https://127.0.0.1:{tls_port}/").http_version == "HTTP/2"

            # The TLS gateway as an S3 provider of the main one: trusted only through --ca-file.
            def add(name, *extra):
                cmd = [osg, "provider", "--data-dir", data_dir, "add", name, "--kind", "s3", "--endpoint",
                       f"https://127.0.0.1:{tls_port}", "--access-key", ACCESS_KEY, "--secret-file", "-", *extra]
                return subprocess.run(cmd, input=SECRET_KEY + "\n", capture_output=True, text=True)

            def check_provider(name):
                return subprocess.run([osg, "provider", "--data-dir", data_dir, "check", name],
                                      capture_output=True, text=True)

            # Not trusted: refused at registration, saying why (or, with --no-check, down).
            untrusted = add("tls-untrusted")
            assert untrusted.returncode != 0 and "not added" in untrusted.stderr, untrusted
            assert "certificate" in untrusted.stderr.lower() and "{" not in untrusted.stderr, untrusted
            assert add("tls-untrusted", "--no-check").returncode == 0
            down = check_provider("tls-untrusted")
            assert down.returncode != 0 and "down" in down.stderr, down
            assert add("tls-trusted", "--ca-file", cert).returncode == 0
            trusted = check_provider("tls-trusted")
            assert trusted.returncode == 0 and "tls-trusted: up" in trusted.stdout, trusted
            for name in ["tls-untrusted", "tls-trusted"]:
                subprocess.run([osg, "provider", "--data-dir", data_dir, "remove", name], check=True, capture_output=True)
        finally:
            proc.kill()
            proc.wait()

    @check("IAM end to end: osg admin, aws iam, then the new keys allowed and denied by policy")
    def _():
        admin = lambda *a: subprocess.run([osg, "admin", "--data-dir", data_dir, *a], check=True, capture_output=True, text=True).stdout
        admin("account", "create", "iam-tenant")
        import json as _json

        root = _json.loads(admin("key", "create", "iam-tenant", "--json"))
        secrets.append(root["secret_key"])
        assert "iam-tenant" in admin("account", "list")

        def aws(keys, *args, ok=True):
            env = dict(os.environ, AWS_ACCESS_KEY_ID=keys[0], AWS_SECRET_ACCESS_KEY=keys[1], AWS_DEFAULT_REGION="us-east-1")
            r = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=env, capture_output=True, text=True)
            assert (r.returncode == 0) == ok, (args, r.returncode, r.stdout, r.stderr)
            return r.stdout + r.stderr

        root_keys = (root["access_key"], root["secret_key"])
        aws(root_keys, "s3", "mb", "s3://iam-bucket")
        for name in ["bob", "zed", "yan"]:
            aws(root_keys, "iam", "create-user", "--user-name", name)
        users = _json.loads(aws(root_keys, "iam", "list-users", "--page-size", "1"))["Users"]
        assert [u["UserName"] for u in users] == ["bob", "yan", "zed"], users
        assert "EntityAlreadyExists" in aws(root_keys, "iam", "create-user", "--user-name", "bob", ok=False)
        created = _json.loads(aws(root_keys, "iam", "create-access-key", "--user-name", "bob"))["AccessKey"]
        bob = (created["AccessKeyId"], created["SecretAccessKey"])
        secrets.append(bob[1])
        ident = _json.loads(aws(bob, "sts", "get-caller-identity"))
        assert ident["Arn"].endswith(":user/bob"), ident

        assert "AccessDenied" in aws(bob, "s3", "ls", "s3://iam-bucket", ok=False)
        allow = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                 '"Action":["s3:ListBucket","s3:GetObject","s3:PutObject"],'
                 '"Resource":["arn:aws:s3:::iam-bucket","arn:aws:s3:::iam-bucket/*"]}]}')
        aws(root_keys, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "rw", "--policy-document", allow)
        small = os.path.join(work, "small.txt")
        with open(small, "w") as f:
            f.write("iam test")
        aws(bob, "s3", "cp", small, "s3://iam-bucket/x")
        assert "x" in aws(bob, "s3", "ls", "s3://iam-bucket")
        assert "AccessDenied" in aws(bob, "s3", "rm", "s3://iam-bucket/x", ok=False)
        assert "AccessDenied" in aws(bob, "iam", "create-user", "--user-name", "eve", ok=False)
        assert "MalformedPolicyDocument" in aws(
            root_keys, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "bad", "--policy-document", '{"Statement":[]}', ok=False
        )

        deny = '{"Statement":{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}}'
        aws(root_keys, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "no-writes", "--policy-document", deny)
        assert "AccessDenied" in aws(bob, "s3", "cp", small, "s3://iam-bucket/y", ok=False)
        names = _json.loads(aws(root_keys, "iam", "list-user-policies", "--user-name", "bob"))["PolicyNames"]
        assert names == ["no-writes", "rw"], names

        aws(root_keys, "iam", "update-access-key", "--user-name", "bob", "--access-key-id", bob[0], "--status", "Inactive")
        assert "InvalidAccessKeyId" in aws(bob, "s3", "ls", "s3://iam-bucket", ok=False)
        assert "DeleteConflict" in aws(root_keys, "iam", "delete-user", "--user-name", "bob", ok=False)
        aws(root_keys, "iam", "delete-access-key", "--user-name", "bob", "--access-key-id", bob[0])
        for policy in names:
            aws(root_keys, "iam", "delete-user-policy", "--user-name", "bob", "--policy-name", policy)
        aws(root_keys, "iam", "delete-user", "--user-name", "bob")
        assert "NoSuchEntity" in aws(root_keys, "iam", "get-user", "--user-name", "bob", ok=False)
        # Groups and managed policies, with versions.
        aws(root_keys, "iam", "create-group", "--group-name", "readers")
        aws(root_keys, "iam", "add-user-to-group", "--group-name", "readers", "--user-name", "yan")
        members = _json.loads(aws(root_keys, "iam", "get-group", "--group-name", "readers"))["Users"]
        assert [u["UserName"] for u in members] == ["yan"], members
        mine = _json.loads(aws(root_keys, "iam", "list-groups-for-user", "--user-name", "yan"))["Groups"]
        assert [g["GroupName"] for g in mine] == ["readers"], mine
        read = ('{"Statement":{"Effect":"Allow","Action":["s3:ListBucket","s3:GetObject"],'
                '"Resource":["arn:aws:s3:::iam-bucket","arn:aws:s3:::iam-bucket/*"]}}')
        write = ('{"Statement":{"Effect":"Allow","Action":["s3:ListBucket","s3:GetObject","s3:PutObject"],'
                 '"Resource":["arn:aws:s3:::iam-bucket","arn:aws:s3:::iam-bucket/*"]}}')
        arn = _json.loads(aws(root_keys, "iam", "create-policy", "--policy-name", "bucket-access", "--policy-document", read))["Policy"]["Arn"]
        aws(root_keys, "iam", "attach-group-policy", "--group-name", "readers", "--policy-arn", arn)
        attached = _json.loads(aws(root_keys, "iam", "list-attached-group-policies", "--group-name", "readers"))
        assert attached["AttachedPolicies"][0]["PolicyArn"] == arn, attached
        created = _json.loads(aws(root_keys, "iam", "create-access-key", "--user-name", "yan"))["AccessKey"]
        yan = (created["AccessKeyId"], created["SecretAccessKey"])
        secrets.append(yan[1])
        assert "x" in aws(yan, "s3", "ls", "s3://iam-bucket")
        assert "AccessDenied" in aws(yan, "s3", "cp", small, "s3://iam-bucket/by-yan", ok=False)
        aws(root_keys, "iam", "create-policy-version", "--policy-arn", arn, "--policy-document", write, "--set-as-default")
        aws(yan, "s3", "cp", small, "s3://iam-bucket/by-yan")
        aws(root_keys, "iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v1")
        assert "AccessDenied" in aws(yan, "s3", "cp", small, "s3://iam-bucket/by-yan-2", ok=False)
        versions = _json.loads(aws(root_keys, "iam", "list-policy-versions", "--policy-arn", arn))["Versions"]
        assert sorted(v["VersionId"] for v in versions) == ["v1", "v2"], versions
        doc = _json.loads(aws(root_keys, "iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v2"))
        assert "s3:PutObject" in _json.dumps(doc["PolicyVersion"]["Document"]), doc
        assert "DeleteConflict" in aws(root_keys, "iam", "delete-policy", "--policy-arn", arn, ok=False)
        aws(root_keys, "iam", "put-group-policy", "--group-name", "readers", "--policy-name", "g", "--policy-document", write)
        aws(yan, "s3", "cp", small, "s3://iam-bucket/by-yan-3")
        aws(root_keys, "iam", "delete-group-policy", "--group-name", "readers", "--policy-name", "g")
        aws(root_keys, "iam", "detach-group-policy", "--group-name", "readers", "--policy-arn", arn)
        assert "AccessDenied" in aws(yan, "s3", "ls", "s3://iam-bucket", ok=False)
        aws(root_keys, "iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v2")
        aws(root_keys, "iam", "delete-policy", "--policy-arn", arn)
        assert "DeleteConflict" in aws(root_keys, "iam", "delete-group", "--group-name", "readers", ok=False)
        aws(root_keys, "iam", "remove-user-from-group", "--group-name", "readers", "--user-name", "yan")
        aws(root_keys, "iam", "delete-group", "--group-name", "readers")

        # The operator's side: managed policies by file, keys for users, and a bucket quota.
        policy_file = os.path.join(work, "list.json")
        with open(policy_file, "w") as f:
            f.write('{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::iam-bucket"}}')
        admin("policy", "create", "iam-tenant", "lister", "--file", policy_file)
        admin("policy", "attach", "iam-tenant", "zed", "lister")
        zed = _json.loads(admin("key", "create", "iam-tenant", "--user", "zed", "--json"))
        secrets.append(zed["secret_key"])
        aws((zed["access_key"], zed["secret_key"]), "s3", "ls", "s3://iam-bucket")
        # A change made elsewhere (here: osg admin, another process) reaches this gateway's
        # cached view within 2 seconds.
        zed_s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=zed["access_key"], aws_secret_access_key=zed["secret_key"],
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
        )
        zed_s3.list_objects_v2(Bucket="iam-bucket")  # now cached: allowed
        deny_file = os.path.join(work, "deny.json")
        with open(deny_file, "w") as f:
            f.write('{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}')
        admin("policy", "put", "iam-tenant", "zed", "deny-all", "--file", deny_file)
        changed = time.monotonic()
        while True:
            try:
                zed_s3.list_objects_v2(Bucket="iam-bucket")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDenied", e.response
                break
            assert time.monotonic() - changed < 2.0, "the Deny took more than 2 s to apply"
            time.sleep(0.05)
        took = time.monotonic() - changed
        print(f"     (a Deny made by another process applied after {took:.2f} s)")

        admin("property", "set", "s3.max-buckets-per-account", "2")
        assert admin("property", "get", "s3.max-buckets-per-account").strip() == "2"
        aws(root_keys, "s3", "mb", "s3://iam-bucket-2")
        assert "TooManyBuckets" in aws(root_keys, "s3", "mb", "s3://iam-bucket-3", ok=False)
        admin("property", "set", "s3.max-buckets-per-account", "100")

        # Accounts are the system account's to manage.
        assert "AccessDenied" in signed_iam(endpoint, root_keys, {"Action": "ListAccounts"}).text
        listed = signed_iam(endpoint, (ACCESS_KEY, SECRET_KEY), {"Action": "ListAccounts"})
        assert listed.status_code == 200 and "<AccountName>iam-tenant</AccountName>" in listed.text, listed.text

    @check("osg.backend switched live to a standalone Walrus; provider loss is a fast 503")
    def _():
        wport = free_port()
        wdir = os.path.join(work, "walrus")
        wenv = dict(os.environ, OSG_WALRUS_ACCESS_KEY="AKWALRUS", OSG_WALRUS_SECRET_KEY="walrus-secret-123")
        secrets.append("walrus-secret-123")

        def start_walrus():
            proc = subprocess.Popen([osg, "walrus", "--listen", f"127.0.0.1:{wport}", "--data-dir", wdir],
                                    env=wenv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", wport), timeout=1).close()
                    return proc
                except OSError:
                    assert time.time() < deadline, "osg walrus did not start"
                    time.sleep(0.05)

        # Registered while it is still down: the gateway keeps trying until it answers.
        add = [osg, "provider", "--data-dir", data_dir, "add", "standalone", "--kind", "s3",
               "--endpoint", f"http://127.0.0.1:{wport}", "--access-key", "AKWALRUS", "--secret-file", "-"]
        refused = subprocess.run(add, input="walrus-secret-123\n", capture_output=True, text=True)
        assert refused.returncode != 0 and "Connection refused" in refused.stderr, refused
        subprocess.run([*add, "--no-check"], input="walrus-secret-123\n", check=True, capture_output=True, text=True)
        listing = subprocess.run([osg, "provider", "--data-dir", data_dir, "list"],
                                 check=True, capture_output=True, text=True).stdout
        assert "standalone" in listing and "********" in listing and "walrus-secret-123" not in listing, listing
        time.sleep(1.5)
        walrus = start_walrus()
        try:
            subprocess.run([osg, "property", "--data-dir", data_dir, "set", "osg.backend=standalone"],
                           check=True, capture_output=True)
            deadline = time.time() + 3
            while True:  # every gateway picks the provider up within a couple of seconds
                try:
                    s3.create_bucket(Bucket="on-standalone")
                    break
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "ServiceUnavailable" and time.time() < deadline, e.response
                    time.sleep(0.1)
            body = os.urandom(300_000)
            s3.put_object(Bucket="on-standalone", Key="obj", Body=body)
            assert s3.get_object(Bucket="on-standalone", Key="obj")["Body"].read() == body
            stored = [f for _, _, fs in os.walk(os.path.join(wdir, "buckets")) for f in fs]
            assert len(stored) == 1, stored
            # Buckets made before the switch stay where they are.
            assert s3.get_object(Bucket="boto-bucket", Key="a/b c")["Body"].read() == b"hello"

            ready = requests.get(f"{endpoint}/.osg/ready")
            assert ready.status_code == 200 and ready.json()["providers"]["standalone"] == "up", ready.text
            walrus.kill()
            walrus.wait()
            ready = requests.get(f"{endpoint}/.osg/ready")
            assert ready.status_code == 200 and ready.json()["providers"]["standalone"].startswith("down"), ready.text
            assert ready.json()["metadata"] == "up", ready.text
            assert ready.json()["providers"]["walrus"] == "up", ready.text
            started = time.monotonic()
            code = error_code(lambda: s3.get_object(Bucket="on-standalone", Key="obj"))
            took = time.monotonic() - started
            assert code == ("ServiceUnavailable", 503) and took < 1.0, (code, took)
            print(f"     (503 with the provider down after {took:.3f} s)")
            listed = s3.list_objects_v2(Bucket="on-standalone")["Contents"]
            assert [o["Key"] for o in listed] == ["obj"], "metadata keeps working"
            assert s3.head_object(Bucket="on-standalone", Key="obj")["ContentLength"] == len(body)
            walrus = start_walrus()
            assert s3.get_object(Bucket="on-standalone", Key="obj")["Body"].read() == body, "back after recovery"
            check_up = subprocess.run([osg, "provider", "--data-dir", data_dir, "check", "standalone"],
                                      capture_output=True, text=True)
            assert check_up.returncode == 0 and "up" in check_up.stdout, check_up
            remove = [osg, "provider", "--data-dir", data_dir, "remove", "standalone"]
            r = subprocess.run(remove, capture_output=True, text=True)
            assert r.returncode != 0 and "Buckets live on provider" in r.stderr, (r.returncode, r.stderr)
        finally:
            subprocess.run([osg, "admin", "--data-dir", data_dir, "property", "set", "osg.backend", "walrus"],
                           capture_output=True)
            walrus.kill()
            walrus.wait()

    # The testbeds' providers (scripts/testbed/*), when they run: registered with the CLI,
    # used through the gateway, their secrets kept out of every output.
    remotes = []
    if os.environ.get("OSG_TEST_SWIFT_AUTH_URL"):
        remotes.append(("swift-native", os.environ["OSG_TEST_SWIFT_KEY"],
                        ["--kind", "swift", "--endpoint", os.environ["OSG_TEST_SWIFT_AUTH_URL"],
                         "--access-key", os.environ["OSG_TEST_SWIFT_USER"]]))
    if os.environ.get("OSG_TEST_RGW_ENDPOINT"):
        remotes.append(("rgw", os.environ["OSG_TEST_RGW_SECRET_KEY"],
                        ["--kind", "s3", "--flavour", "ceph-rgw", "--endpoint", os.environ["OSG_TEST_RGW_ENDPOINT"],
                         "--access-key", os.environ["OSG_TEST_RGW_ACCESS_KEY"]]))
    for name, secret, args in remotes:
        @check(f"provider {name} added with the CLI and used through the gateway")
        def _():
            secrets.append(secret)
            bucket = f"clients-{os.getpid()}"
            add = [osg, "provider", "--data-dir", data_dir, "add", name, *args, "--bucket", bucket, "--secret-file", "-"]
            subprocess.run(add, input=secret + "\n", check=True, capture_output=True, text=True)
            outputs = subprocess.run([osg, "provider", "--data-dir", data_dir, "list", "--json"],
                                     check=True, capture_output=True, text=True).stdout
            check_up = subprocess.run([osg, "provider", "--data-dir", data_dir, "check", name],
                                      capture_output=True, text=True)
            assert check_up.returncode == 0 and f"{name}: up" in check_up.stdout, check_up
            subprocess.run([osg, "property", "--data-dir", data_dir, "set", f"osg.backend={name}"],
                           check=True, capture_output=True)
            outputs += subprocess.run([osg, "property", "--data-dir", data_dir, "list"],
                                      check=True, capture_output=True, text=True).stdout
            assert secret not in outputs and "********" in outputs, outputs
            try:
                target = f"on-{name}"
                deadline = time.time() + 3
                while True:
                    try:
                        s3.create_bucket(Bucket=target)
                        break
                    except ClientError as e:
                        assert e.response["Error"]["Code"] == "ServiceUnavailable" and time.time() < deadline, e.response
                        time.sleep(0.1)
                body = os.urandom(1_500_000)
                s3.put_object(Bucket=target, Key="obj", Body=body)
                assert s3.get_object(Bucket=target, Key="obj")["Body"].read() == body
                got = s3.get_object(Bucket=target, Key="obj", Range="bytes=1000-1999")["Body"].read()
                assert got == body[1000:2000]
            finally:
                subprocess.run([osg, "property", "--data-dir", data_dir, "set", "osg.backend=walrus"],
                               check=True, capture_output=True)

    @check("a second gateway on the same data dir serves the same objects")
    def _():
        # The data dir is reopened by a second process on another port.
        other = free_port()
        proc = start(osg, data_dir, other)
        try:
            again = boto3.client(
                "s3",
                endpoint_url=f"http://127.0.0.1:{other}",
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}),
            )
            assert again.get_object(Bucket="boto-bucket", Key="a/b c")["Body"].read() == b"hello"
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
