;; Mandelbrot rows: for each pixel of rows [row_start, row_end) of a
;; width x height image of the region [-2, 1] x [-1.5, 1.5], the number of
;; iterations (at most 255) before z escapes |z| > 2. One byte a pixel, so
;; the outputs of all units, in order, are the image's grey levels (a PGM
;; body).
;;
;; Input: 16 bytes, width, height, row_start, row_end as little-endian u32.
;; Output: (row_end - row_start) * width bytes.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

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

  ;; Iterations before the point (cr, ci) escapes, at most 255.
  (func $escape (param $cr f64) (param $ci f64) (result i32)
    (local $zr f64) (local $zi f64) (local $zr2 f64) (local $zi2 f64) (local $i i32)
    (block $out
      (loop $iter
        (br_if $out (i32.ge_u (local.get $i) (i32.const 255)))
        (local.set $zr2 (f64.mul (local.get $zr) (local.get $zr)))
        (local.set $zi2 (f64.mul (local.get $zi) (local.get $zi)))
        (br_if $out (f64.gt (f64.add (local.get $zr2) (local.get $zi2)) (f64.const 4)))
        (local.set $zi (f64.add (f64.mul (f64.mul (f64.const 2) (local.get $zr))
                                         (local.get $zi))
                                (local.get $ci)))
        (local.set $zr (f64.add (f64.sub (local.get $zr2) (local.get $zi2))
                                (local.get $cr)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iter)))
    (local.get $i))

  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $w i32) (local $h i32) (local $y i32) (local $end i32)
    (local $x i32) (local $out i32) (local $at i32) (local $size i32)
    (if (i32.lt_u (local.get $len) (i32.const 16)) (then unreachable))
    (local.set $w (i32.load (local.get $ptr)))
    (local.set $h (i32.load offset=4 (local.get $ptr)))
    (local.set $y (i32.load offset=8 (local.get $ptr)))
    (local.set $end (i32.load offset=12 (local.get $ptr)))
    (if (i32.gt_u (local.get $end) (local.get $h)) (then unreachable))
    (if (i32.gt_u (local.get $y) (local.get $end)) (then unreachable))
    (local.set $size (i32.mul (i32.sub (local.get $end) (local.get $y)) (local.get $w)))
    (local.set $out (call $alloc (local.get $size)))
    (local.set $at (local.get $out))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $x (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $x) (local.get $w)))
            ;; cr = x * 3 / w - 2, ci = y * 3 / h - 1.5
            (i32.store8 (local.get $at)
              (call $escape
                (f64.sub (f64.div (f64.mul (f64.convert_i32_u (local.get $x)) (f64.const 3))
                                  (f64.convert_i32_u (local.get $w)))
                         (f64.const 2))
                (f64.sub (f64.div (f64.mul (f64.convert_i32_u (local.get $y)) (f64.const 3))
                                  (f64.convert_i32_u (local.get $h)))
                         (f64.const 1.5))))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $cols)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (local.get $size))))
)
