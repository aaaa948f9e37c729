;; Hostile: declares 60000 pages (3.7 GiB) of memory up front. Must end
;; with "went over the memory limit" before it runs.
(module
  (memory (export "memory") 60000)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64) (i64.const 0)))
