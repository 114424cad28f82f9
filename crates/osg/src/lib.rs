//! The `osg` command's pieces, as a library so tests can run a real gateway in-process.

pub mod admin;
pub mod bench;
pub mod bootstrap;
pub mod config;
pub mod credentials;
pub mod remote;
pub mod serve;
pub mod walrus;
