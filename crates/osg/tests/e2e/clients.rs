//! The real binary driven by the aws CLI, boto3 and s3cmd (see `tests/clients.py`).

use std::process::Command;

#[test]
fn aws_cli_boto3_and_s3cmd() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients.py");
    let status = Command::new("python3")
        .arg(script)
        .arg("--osg")
        .arg(env!("CARGO_BIN_EXE_osg"))
        .status()
        .expect("python3 runs (use scripts/test, which installs the Python clients)");
    assert!(status.success(), "clients.py failed: {status}");
}
