;; wasi_env.wat: a module as wasm32-wasip1 toolchains build them. `_initialize` prints
;; `started` to stdout; every request logs its first environment variable (KEY=VALUE), read
;; with environ_sizes_get/environ_get, and then tries to close descriptor 3 (no such file).
;;
;; Memory: 0 out-parameters, 16 the environ pointers, 64 strings, 128 an iovec,
;; 512 the environ strings, 1024.. a bump heap.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "started\n")       ;; 8 bytes
  (data (i32.const 80) "fd_close(3) = ")  ;; 14 bytes, then one digit pair at 94
  (global $heap (mut i32) (i32.const 1024))

  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))

  (func (export "_initialize")
    (i32.store (i32.const 128) (i32.const 64))
    (i32.store (i32.const 132) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 0))))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $errno i32)
    (drop (call $environ_sizes (i32.const 0) (i32.const 4)))
    (if (i32.load (i32.const 0))
      (then
        (drop (call $environ_get (i32.const 16) (i32.const 512)))
        ;; The first string, without its NUL (the only one when there is one variable).
        (drop (call $log (i32.const 2) (i32.load (i32.const 16))
                         (i32.sub (i32.load (i32.const 4)) (i32.const 1))))))
    ;; Log the errno as two decimal digits.
    (local.set $errno (call $fd_close (i32.const 3)))
    (i32.store8 (i32.const 94) (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 95) (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (drop (call $log (i32.const 2) (i32.const 80) (i32.const 16)))
    (i32.const 0))
)
