;; Hostile: asks the host for a clock. Must be refused before it runs.
(module
  (import "env" "clock" (func $clock (result i64)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64) (call $clock)))
