;; Hostile: claims 4 GiB - 1 bytes of output. Must end with "over the output limit".
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64) (i64.const 0xFFFFFFFF)))
