//! Integration tests of the loyalty service: real HTTP against an instance on port 0, on
//! a fresh database of the test process's own PostgreSQL (one binary keeps link time down).

mod access;
mod activities;
mod authentication;
mod bad_input;
mod checkout;
mod concurrency;
mod database_tls;
mod delivery;
mod delivery_pruning;
mod delivery_restart;
mod erasure;
mod events;
mod failover;
mod fraud;
mod helpers;
mod holds;
mod key_set;
mod leaderboard;
mod ledger;
mod limits;
mod members;
mod operations;
mod partners;
mod process;
mod receiver;
mod replicas;
mod rules;
mod shared_reads;
mod social;
mod statement;
mod tls_receiver;
mod token_cache;
