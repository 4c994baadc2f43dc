//! Tokens already verified, remembered until they expire: a client sends the same access
//! token with every request for its lifetime, and checking its signature again each time
//! (an Ed25519 or ECDSA verification, tens of microseconds) was the largest single cost of a
//! balance read. Only tokens that verified are remembered; a hit re-checks `exp` with the
//! same leeway, and is void once the key set changes (a withdrawn key stops its tokens at the
//! next refresh, as without the cache). The key is the SHA-256 of the whole token, so two
//! tokens share an entry only if they are the same token. Bounded by `auth.token_cache_entries`
//! (S3-FIFO eviction by `quick_cache`), 0 turns it off.

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::Caller;

/// What a hit needs: the caller, until when, and under which key set.
#[derive(Clone)]
struct Verified {
    caller: Caller,
    /// `exp` plus the leeway, in Unix seconds.
    valid_until: u64,
    /// The key set's generation when the token verified.
    generation: u64,
}

pub struct VerifiedTokens {
    cache: Option<Cache<[u8; 32], Verified>>,
}

impl VerifiedTokens {
    /// A cache of up to `entries` tokens; none when `entries` is 0.
    pub fn new(entries: usize) -> Self {
        Self {
            cache: (entries > 0).then(|| Cache::new(entries)),
        }
    }

    /// The caller of `token` if it verified under key-set `generation` and is still valid at
    /// `now` (Unix seconds).
    pub fn get(&self, token: &str, generation: u64, now: u64) -> Option<Caller> {
        let hit = self.cache.as_ref()?.get(&digest(token))?;
        (hit.generation == generation && now <= hit.valid_until).then_some(hit.caller)
    }

    /// Remembers that `token` proves `caller` until `valid_until` under `generation`.
    pub fn insert(&self, token: &str, caller: &Caller, valid_until: u64, generation: u64) {
        if let Some(cache) = &self.cache {
            let entry = Verified {
                caller: caller.clone(),
                valid_until,
                generation,
            };
            cache.insert(digest(token), entry);
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
