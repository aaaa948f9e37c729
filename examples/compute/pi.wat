;; Monte Carlo estimate of pi: draws points in the unit square with a
;; seeded SplitMix64 generator and counts those inside the quarter circle.
;; The seed travels in the input, so every copy of a unit draws the same
;; points and honest workers agree to the bit.
;;
;; Input: 12 bytes, the seed as a little-endian u64, then the number of
;; samples as a little-endian u32.
;; Output: 8 bytes, the points inside as a little-endian u64.
;; pi ~= 4 * (sum of inside) / (sum of samples).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $state (mut i64) (i64.const 0))

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

  ;; SplitMix64: the next 64 random bits.
  (func $next (result i64)
    (local $z i64)
    (global.set $state (i64.add (global.get $state) (i64.const 0x9E3779B97F4A7C15)))
    (local.set $z (global.get $state))
    (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 30)))
                           (i64.const 0xBF58476D1CE4E5B9)))
    (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 27)))
                           (i64.const 0x94D049BB133111EB)))
    (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 31))))

  ;; A uniform double in [0, 1): the top 53 bits times 2^-53.
  (func $uniform (result f64)
    (f64.mul (f64.convert_i64_u (i64.shr_u (call $next) (i64.const 11)))
             (f64.const 0x1p-53)))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $left i32) (local $inside i64) (local $x f64) (local $y f64) (local $out i32)
    (if (i32.lt_u (local.get $len) (i32.const 12)) (then unreachable))
    (global.set $state (i64.load (local.get $ptr)))
    (local.set $left (i32.load offset=8 (local.get $ptr)))
    (block $done
      (loop $draw
        (br_if $done (i32.eqz (local.get $left)))
        (local.set $x (call $uniform))
        (local.set $y (call $uniform))
        (if (f64.lt (f64.add (f64.mul (local.get $x) (local.get $x))
                             (f64.mul (local.get $y) (local.get $y)))
                    (f64.const 1))
          (then (local.set $inside (i64.add (local.get $inside) (i64.const 1)))))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br $draw)))
    (local.set $out (call $alloc (i32.const 8)))
    (i64.store (local.get $out) (local.get $inside))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.const 8)))
)
