;; Count the primes in a half-open range [lo, hi) by trial division.
;;
;; Input: 8 bytes, lo and hi as little-endian u32.
;; Output: 4 bytes, the count as a little-endian u32.
;; ABI (see crates/plexus/src/compute/abi.rs): exports `memory`,
;; `alloc(len) -> ptr` and `run(ptr, len) -> i64` = (out_ptr << 32) | out_len.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  ;; Bump allocator: hands out `len` bytes, growing memory when needed.
  (func $alloc (export "alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $ok
      (loop $grow
        (br_if $ok (i32.le_u (local.get $end)
                             (i32.shl (memory.size) (i32.const 16))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
          (then unreachable))
        (br $grow)))
    (global.set $heap (local.get $end))
    (local.get $p))

  (func $is_prime (param $n i32) (result i32)
    (local $d i32)
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i32.const 0))))
    (local.set $d (i32.const 2))
    (block $done
      (loop $next
        ;; stop once d > n / d, i.e. d * d > n (without overflow)
        (br_if $done (i32.gt_u (local.get $d)
                               (i32.div_u (local.get $n) (local.get $d))))
        (if (i32.eqz (i32.rem_u (local.get $n) (local.get $d)))
          (then (return (i32.const 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $n i32) (local $hi i32) (local $count i32) (local $out i32)
    (if (i32.lt_u (local.get $len) (i32.const 8)) (then unreachable))
    (local.set $n (i32.load (local.get $ptr)))
    (local.set $hi (i32.load offset=4 (local.get $ptr)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $n) (local.get $hi)))
        (local.set $count (i32.add (local.get $count)
                                   (call $is_prime (local.get $n))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $each)))
    (local.set $out (call $alloc (i32.const 4)))
    (i32.store (local.get $out) (local.get $count))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.const 4)))
)
