;; header_adder.wat: adds `x-meshc: hello` to every request's headers, like the seed's
;; header-adding plugin (examples/seed/plugins.mesh), against the proxy-wasm ABI 0.2.1.
;;
;; Memory: 16 the header name, 32 its value, 1024.. a bump heap for the host's data.
(module
  (import "env" "proxy_add_header_map_value"
    (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-meshc")
  (data (i32.const 32) "hello")
  (global $heap (mut i32) (i32.const 1024))

  (func (export "proxy_abi_version_0_2_1"))

  ;; A bump allocator that grows memory when it runs out; nothing is ever freed.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (local.get $p))

  (func (export "proxy_on_context_create") (param $ctx i32) (param $root i32))

  ;; Map type 0 is the request headers. Returns Continue (0).
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add_header (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 32) (i32.const 5)))
    (i32.const 0))
)
