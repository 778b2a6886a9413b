;; counter_logger.wat: defines a counter when the VM starts, and for every request
;; increments it, logs `request seen` at info, and logs the request's path, read with
;; proxy_get_property("request\0path").
;;
;; Memory: 0 out-parameters, 64 strings, 1024.. a bump heap.
(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $property (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "meshc_requests_total")   ;; 20 bytes
  (data (i32.const 96) "request seen")           ;; 12 bytes
  (data (i32.const 112) "request\00path")        ;; 12 bytes
  (global $heap (mut i32) (i32.const 1024))
  (global $counter (mut i32) (i32.const 0))

  (func (export "proxy_abi_version_0_2_1"))

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

  (func (export "proxy_on_context_create") (param i32 i32))

  ;; Metric type 0 is a counter; its id goes to address 8.
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 64) (i32.const 20) (i32.const 8)))
    (global.set $counter (i32.load (i32.const 8)))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $increment (global.get $counter) (i64.const 1)))
    (drop (call $log (i32.const 2) (i32.const 96) (i32.const 12)))
    (if (i32.eqz (call $property (i32.const 112) (i32.const 12) (i32.const 0) (i32.const 4)))
      (then (drop (call $log (i32.const 2) (i32.load (i32.const 0)) (i32.load (i32.const 4))))))
    (i32.const 0))
)
