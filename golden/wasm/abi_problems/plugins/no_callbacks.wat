;; ABI 0.2.0, memory and allocator, but no callback of any plugin type.
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0)))
