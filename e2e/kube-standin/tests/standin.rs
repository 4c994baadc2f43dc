//! Integration tests of the stand-in API server against its real clients: kubectl (run as a
//! subprocess) and kube-rs (client and runtime). One test binary keeps link times down.

#[path = "standin/admission.rs"]
mod admission;
#[path = "standin/common.rs"]
mod common;
#[path = "standin/kube_rs.rs"]
mod kube_rs;
#[path = "standin/kubectl.rs"]
mod kubectl;
