;; A proxy-wasm HTTP plugin that keeps its memory and allocator to itself.
(module
  (memory 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0)))
