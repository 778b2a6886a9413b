;; grows.wat: grows its memory by 1 MiB (16 pages) at a time, forever, on every request.
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (loop $more
      (drop (memory.grow (i32.const 16)))
      (br $more))
    (i32.const 0))
)
