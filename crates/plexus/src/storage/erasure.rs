//! Splitting an object into N shards of which any K rebuild it, and back.
//!
//! Erasure mode: the object is cut into K data shards of equal, even length
//! (the last one padded with zeros) and Reed-Solomon coded with
//! `reed-solomon-simd` into N - K recovery shards. Replicas mode is the
//! same shape with K = 1 and every shard the whole object, so the rest of
//! the component treats both alike ("any K of N").

use super::redundancy::Redundancy;
use crate::Error;

/// The N shards of an object and their common length.
#[derive(Debug)]
pub(crate) struct Shards {
    /// Bytes in every shard.
    pub(crate) shard_size: u64,
    /// Shard `i` at index `i`; `N` of them.
    pub(crate) shards: Vec<Vec<u8>>,
}

fn coding(e: impl std::fmt::Display) -> Error {
    Error::Store(format!("erasure coding: {e}"))
}

/// Length of each of the K data shards of a `size`-byte object: the size
/// divided by K, rounded up to an even number (the coder works on pairs of
/// bytes), at least 2.
pub(crate) fn shard_size(size: u64, redundancy: Redundancy) -> u64 {
    match redundancy {
        Redundancy::Replicas(_) => size,
        Redundancy::Erasure { k, .. } => {
            let per = size.div_ceil(u64::from(k)).max(2);
            per + per % 2
        }
    }
}

/// Splits `object` into the shards `redundancy` asks for.
pub(crate) fn split(object: &[u8], redundancy: Redundancy) -> Result<Shards, Error> {
    redundancy.check()?;
    let shard_size = shard_size(object.len() as u64, redundancy);
    match redundancy {
        Redundancy::Replicas(n) => Ok(Shards {
            shard_size,
            shards: vec![object.to_vec(); usize::from(n)],
        }),
        Redundancy::Erasure { k, n } => {
            let per = shard_size as usize;
            let mut data: Vec<Vec<u8>> = (0..usize::from(k))
                .map(|i| {
                    let start = (i * per).min(object.len());
                    let end = ((i + 1) * per).min(object.len());
                    let mut shard = object[start..end].to_vec();
                    shard.resize(per, 0);
                    shard
                })
                .collect();
            if n > k {
                let recovery = reed_solomon_simd::encode(usize::from(k), usize::from(n - k), &data)
                    .map_err(coding)?;
                data.extend(recovery);
            }
            Ok(Shards {
                shard_size,
                shards: data,
            })
        }
    }
}

/// Rebuilds the `size`-byte object from at least K of its shards
/// (`(index, bytes)`, each already verified against its hash).
pub(crate) fn join(
    size: u64,
    redundancy: Redundancy,
    shards: Vec<(usize, Vec<u8>)>,
) -> Result<Vec<u8>, Error> {
    let (k, n) = redundancy.k_n();
    let (k, n) = (usize::from(k), usize::from(n));
    if shards.len() < k {
        return Err(Error::Store(format!(
            "erasure coding: {} shards, {k} needed",
            shards.len()
        )));
    }
    if let Redundancy::Replicas(_) = redundancy {
        let (_, bytes) = shards.into_iter().next().expect("one");
        return Ok(bytes);
    }
    let mut data: Vec<Option<Vec<u8>>> = vec![None; k];
    let mut recovery = Vec::new();
    for (i, bytes) in shards {
        if i < k {
            data[i] = Some(bytes);
        } else if i < n {
            recovery.push((i - k, bytes));
        }
    }
    if data.iter().any(Option::is_none) {
        let present: Vec<(usize, &[u8])> = data
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.as_deref().map(|d| (i, d)))
            .collect();
        let restored = reed_solomon_simd::decode(k, n - k, present, recovery).map_err(coding)?;
        for (i, bytes) in restored {
            data[i] = Some(bytes);
        }
    }
    let mut object = Vec::with_capacity(size as usize);
    for d in data {
        object.extend_from_slice(&d.ok_or_else(|| coding("a data shard was not restored"))?);
    }
    object.truncate(size as usize);
    Ok(object)
}

/// Rebuilds shard `index` from at least K others (for repair): the object
/// is restored, then split again.
#[cfg_attr(not(test), allow(dead_code))] // for repair
pub(crate) fn rebuild(
    size: u64,
    redundancy: Redundancy,
    shards: Vec<(usize, Vec<u8>)>,
    index: usize,
) -> Result<Vec<u8>, Error> {
    let object = join(size, redundancy, shards)?;
    let mut all = split(&object, redundancy)?;
    if index >= all.shards.len() {
        return Err(coding(format!("no shard {index}")));
    }
    Ok(all.shards.swap_remove(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn any_k_of_n_shards_rebuild_the_object() {
        let r = Redundancy::Erasure { k: 3, n: 6 };
        for len in [0usize, 1, 5, 4096, 100_003] {
            let object = bytes(len);
            let s = split(&object, r).unwrap();
            assert_eq!(s.shards.len(), 6);
            assert!(s.shards.iter().all(|x| x.len() as u64 == s.shard_size));
            // Every choice of 3 of the 6.
            for a in 0..6 {
                for b in a + 1..6 {
                    for c in b + 1..6 {
                        let some = [a, b, c]
                            .iter()
                            .map(|&i| (i, s.shards[i].clone()))
                            .collect();
                        assert_eq!(join(len as u64, r, some).unwrap(), object, "{a}{b}{c}");
                    }
                }
            }
            let two = vec![(0, s.shards[0].clone()), (4, s.shards[4].clone())];
            assert!(join(len as u64, r, two).is_err());
        }
    }

    #[test]
    fn a_lost_shard_is_rebuilt_byte_identical() {
        let r = Redundancy::Erasure { k: 4, n: 8 };
        let object = bytes(1 << 20);
        let s = split(&object, r).unwrap();
        for lost in 0..8 {
            let others = (0..8)
                .filter(|&i| i != lost)
                .take(4)
                .map(|i| (i, s.shards[i].clone()))
                .collect();
            assert_eq!(
                rebuild(object.len() as u64, r, others, lost).unwrap(),
                s.shards[lost]
            );
        }
    }

    #[test]
    fn replicas_are_whole_copies() {
        let object = bytes(1000);
        let s = split(&object, Redundancy::Replicas(3)).unwrap();
        assert!(s.shards.iter().all(|x| *x == object));
        let one = vec![(2, s.shards[2].clone())];
        assert_eq!(join(1000, Redundancy::Replicas(3), one).unwrap(), object);
    }
}
