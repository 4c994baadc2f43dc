//! How the service and the operator reach the database: one [`DatabaseUrl`] parser and one
//! rustls connector, so that both read `sslmode` and `sslrootcert` the same way.
//!
//! tokio-postgres only knows `sslmode=disable|prefer|require`, verifies nothing itself (that
//! is the connector's job) and refuses libpq's `verify-ca`, `verify-full` and `sslrootcert`.
//! [`DatabaseUrl::parse`] takes those parameters out of the URL's query string and hands the
//! rest to tokio-postgres; [`DatabaseUrl::connector`] builds the rustls configuration that
//! checks what libpq would check:
//!
//! | `sslmode` | encrypted | chain checked against `sslrootcert` | host name checked |
//! | --- | --- | --- | --- |
//! | `disable` | never | no | no |
//! | `prefer` (absent) | when the server offers TLS | when `sslrootcert` is given | no |
//! | `require` | always | when `sslrootcert` is given | no |
//! | `verify-ca` | always | yes (`sslrootcert` required) | no |
//! | `verify-full` | always | yes (`sslrootcert` required) | yes |
//!
//! So a CockroachDB URL such as
//! `postgresql://app@db:26257/loyalty?sslmode=verify-full&sslrootcert=/certs/ca.crt` works as
//! it is, and a harness URL without parameters connects in plaintext as before. A wrong CA
//! or a host name the certificate does not name fails the handshake with rustls's reason
//! (`invalid peer certificate: UnknownIssuer`, `certificate not valid for name ...`).
//!
//! Modules: `url` (splitting the URL), `mode` (the modes and what each verifies),
//! `connector` (the rustls configuration), `verifier` (the lenient verifier of `prefer`,
//! `require` and `verify-ca`), `error`.

mod connector;
mod error;
mod mode;
mod url;
mod verifier;

pub use error::{Error, Result};
pub use mode::{SslMode, Verification};
pub use tokio_postgres_rustls::MakeRustlsConnect;
pub use url::{Connection, DatabaseUrl};
