//! A bounded cache of signatures that verified, so a message that arrives several times
//! (gossip duplicates, catch-up resends, or one message reaching the simulator's many
//! engines) costs one ed25519 verification.
//!
//! **Safety.** The key is SHA-256 over a cache tag, the signer's public key, the
//! signature and the exact signed bytes (domain tag, swarm id and message body, see
//! [`crypto::signing_bytes`]). A hit therefore means "this key signed exactly these bytes
//! with exactly this signature, and it verified before": changing any bit of the message,
//! the signature, the signer or the domain gives another key and a fresh verification.
//! Only successful verifications are stored; a failure is never cached, so a forged
//! message is checked (and refused) every time. Membership, swarm and roster checks are
//! not cached: they run on every message.
//!
//! **Bounds.** Two generations of at most `capacity / 2` keys each. New keys go into the
//! current generation; when it is full it becomes the previous one and the old previous
//! generation is dropped. A hit in the previous generation moves the key forward, so
//! keys in use survive (LRU-ish). Everything is deterministic: ordered sets, no clock,
//! no randomness.
//!
//! **Sharing.** The cache is a cheap handle ([`Clone`] shares it). A node gives its
//! engine its own; the simulator gives one cache to every engine of a run, which is what
//! "verify each distinct signature once per run" means. It is `Send + Sync`. For a
//! ballot it also keeps the verified ballot itself, behind an `Arc`, and hands that copy
//! out on a hit (through
//! [`SignedBallot::verify_shared`](crate::message::SignedBallot::verify_shared)), so engines sharing a cache share
//! their ballots too.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::crypto::{self, Domain, PublicKey, Signature};
use crate::ids::SwarmId;

/// A verified value kept beside its key. The cache sits below the message types, so it
/// holds them as `Any`; the key covers the domain, so one key only ever holds one type.
type Shared = Arc<dyn Any + Send + Sync>;

/// Entries kept by an engine's own cache unless told otherwise: about 4 MiB, enough for
/// every ballot of a few hundred proposals in a few-hundred-member swarm.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Prefixed to every cache key, so the key can never collide with another SHA-256 use.
const TAG: &[u8] = b"swarmvote/v1/sigcache\0";

/// Counters, for benchmarks and status lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications that ran ed25519 (successful or not).
    pub misses: u64,
    /// Keys held now.
    pub len: usize,
}

#[derive(Debug)]
struct Inner {
    half: usize,
    current: BTreeMap<[u8; 32], Option<Shared>>,
    previous: BTreeMap<[u8; 32], Option<Shared>>,
    hits: u64,
    misses: u64,
}

/// A shared, bounded set of (key, signature, signed bytes) that verified. See the module
/// documentation.
#[derive(Clone, Debug)]
pub struct SignatureCache {
    inner: Arc<Mutex<Inner>>,
}

impl Default for SignatureCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl SignatureCache {
    /// A cache holding at most `capacity` keys (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                half: (capacity / 2).max(1),
                current: BTreeMap::new(),
                previous: BTreeMap::new(),
                hits: 0,
                misses: 0,
            })),
        }
    }

    /// Hits, misses and size so far.
    pub fn stats(&self) -> CacheStats {
        match self.inner.lock() {
            Ok(g) => CacheStats {
                hits: g.hits,
                misses: g.misses,
                len: g.current.len().saturating_add(g.previous.len()),
            },
            Err(_) => CacheStats::default(),
        }
    }

    /// Checks `signature` by `key` over `signing_bytes(domain, swarm, body)`: from the
    /// cache if this exact triple verified before, else with `verify_strict`, remembering
    /// a success.
    pub fn verify(
        &self,
        key: &PublicKey,
        domain: Domain,
        swarm: &SwarmId,
        body: &[u8],
        signature: &Signature,
    ) -> Result<(), crypto::BadSignature> {
        let msg = crypto::signing_bytes(domain, swarm, body);
        let id = cache_key(key, signature, &msg);
        // A poisoned lock (a panic elsewhere while holding it) only costs the cache: the
        // signature is then verified as if it were not there.
        if let Ok(mut g) = self.inner.lock()
            && g.lookup(&id).is_some()
        {
            return Ok(());
        }
        let result = key.verify_signing_bytes(&msg, signature);
        if let Ok(mut g) = self.inner.lock() {
            g.misses = g.misses.saturating_add(1);
            if result.is_ok() {
                g.insert(id, None);
            }
        }
        result
    }

    /// Checks `signature` by `key` over `msg` (built by [`crypto::signing_bytes`]) like
    /// [`SignatureCache::verify`] and returns `value` behind an `Arc`: on a hit, the copy
    /// the cache already holds (the one other engines sharing this cache hold too), so
    /// `value` itself is dropped.
    pub(crate) fn verify_shared<T: Any + Send + Sync>(
        &self,
        key: &PublicKey,
        msg: &[u8],
        signature: &Signature,
        value: T,
    ) -> Result<Arc<T>, crypto::BadSignature> {
        let id = cache_key(key, signature, msg);
        if let Ok(mut g) = self.inner.lock()
            && let Some(held) = g.lookup(&id)
        {
            if let Some(shared) = held.and_then(|h| h.downcast::<T>().ok()) {
                return Ok(shared);
            }
            // Verified through the plain path: keep this copy from now on.
            let shared = Arc::new(value);
            g.insert(id, Some(Arc::clone(&shared) as Shared));
            return Ok(shared);
        }
        let result = key.verify_signing_bytes(msg, signature);
        let shared = Arc::new(value);
        if let Ok(mut g) = self.inner.lock() {
            g.misses = g.misses.saturating_add(1);
            if result.is_ok() {
                g.insert(id, Some(Arc::clone(&shared) as Shared));
            }
        }
        result.map(|()| shared)
    }
}

impl PublicKey {
    /// Like [`PublicKey::verify`], answered from `cache` when this exact key, signature
    /// and message verified before (see [`crate::sigcache`]).
    pub fn verify_cached(
        &self,
        domain: Domain,
        swarm: &SwarmId,
        body: &[u8],
        signature: &Signature,
        cache: Option<&SignatureCache>,
    ) -> Result<(), crypto::BadSignature> {
        match cache {
            Some(c) => c.verify(self, domain, swarm, body, signature),
            None => self.verify(domain, swarm, body, signature),
        }
    }
}

impl Inner {
    /// `Some(value)` if `id` is held: `Some(None)` for a signature verified through
    /// the plain path, `Some(Some(shared))` for a value kept with it.
    #[allow(clippy::option_option)] // the two levels mean different things, see above
    fn lookup(&mut self, id: &[u8; 32]) -> Option<Option<Shared>> {
        let found = if let Some(v) = self.current.get(id) {
            Some(v.clone())
        } else if let Some(v) = self.previous.remove(id) {
            // Still in use: carry it into the current generation.
            self.insert(*id, v.clone());
            Some(v)
        } else {
            None
        };
        if found.is_some() {
            self.hits = self.hits.saturating_add(1);
        }
        found
    }

    fn insert(&mut self, id: [u8; 32], value: Option<Shared>) {
        if self.current.len() >= self.half && !self.current.contains_key(&id) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(id, value);
    }
}

/// SHA-256(tag || public key || signature || signed bytes). The fixed-length fields come
/// first, so the variable-length tail cannot be shifted into them.
fn cache_key(key: &PublicKey, signature: &Signature, signing_bytes: &[u8]) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(
        TAG.len()
            .saturating_add(96)
            .saturating_add(signing_bytes.len()),
    );
    bytes.extend_from_slice(TAG);
    bytes.extend_from_slice(key.id().as_bytes());
    bytes.extend_from_slice(&signature.0);
    bytes.extend_from_slice(signing_bytes);
    crypto::sha256(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarm() -> SwarmId {
        SwarmId::new("s").unwrap()
    }

    #[test]
    fn caches_only_successes_and_binds_every_input() {
        let sk = crypto::SecretKey::from_seed([3; 32]);
        let pk = sk.public().unwrap();
        let other = crypto::SecretKey::from_seed([4; 32]).public().unwrap();
        let sig = sk.sign(Domain::Ballot, &swarm(), b"body");
        let c = SignatureCache::new(16);
        assert!(
            c.verify(&pk, Domain::Ballot, &swarm(), b"body", &sig)
                .is_ok()
        );
        assert!(
            c.verify(&pk, Domain::Ballot, &swarm(), b"body", &sig)
                .is_ok()
        );
        assert_eq!(c.stats().hits, 1);
        // Each input changed: a miss, and a failure.
        let mut bad = sig;
        bad.0[5] ^= 1;
        assert!(
            c.verify(&pk, Domain::Ballot, &swarm(), b"body", &bad)
                .is_err()
        );
        assert!(
            c.verify(&pk, Domain::Ballot, &swarm(), b"bodz", &sig)
                .is_err()
        );
        assert!(
            c.verify(&pk, Domain::Proposal, &swarm(), b"body", &sig)
                .is_err()
        );
        let s2 = SwarmId::new("t").unwrap();
        assert!(c.verify(&pk, Domain::Ballot, &s2, b"body", &sig).is_err());
        assert!(
            c.verify(&other, Domain::Ballot, &swarm(), b"body", &sig)
                .is_err()
        );
        // Failures are not remembered: the same forgery misses again.
        assert!(
            c.verify(&pk, Domain::Ballot, &swarm(), b"body", &bad)
                .is_err()
        );
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.len), (1, 7, 1));
    }

    #[test]
    fn is_bounded_and_keeps_keys_in_use() {
        let sk = crypto::SecretKey::from_seed([5; 32]);
        let pk = sk.public().unwrap();
        let c = SignatureCache::new(8);
        let body = |i: u32| i.to_le_bytes();
        let sig = |i: u32| sk.sign(Domain::Ballot, &swarm(), &body(i));
        let hot = sig(0);
        for i in 0..100u32 {
            assert!(
                c.verify(&pk, Domain::Ballot, &swarm(), &body(i), &sig(i))
                    .is_ok()
            );
            // Keep key 0 in use: it must survive every generation change.
            assert!(
                c.verify(&pk, Domain::Ballot, &swarm(), &body(0), &hot)
                    .is_ok()
            );
            assert!(c.stats().len <= 8);
        }
        // 99 hits on the hot key (the first round inserted it); cold keys were dropped.
        let s = c.stats();
        assert_eq!(s.hits, 100);
        assert_eq!(s.misses, 100);
    }
}
