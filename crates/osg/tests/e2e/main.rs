//! End-to-end tests: a real gateway on a loopback port, driven by real S3 clients.

mod auth;
mod authz;
mod buckets;
mod clients;
mod cluster;
mod common;
mod cors;
mod crash;
mod encryption;
mod lifecycle;
mod linearizable;
mod list;
mod multipart;
mod object_lock;
mod objects;
mod operations;
mod outage;
mod providers;
mod raw;
mod security;
mod versioning;
