//! The real executor against a stub venue on loopback.

mod balances;
mod limits;
mod orders;
mod stream;
mod stub_venue;
mod support;
