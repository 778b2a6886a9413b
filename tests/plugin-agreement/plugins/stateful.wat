;; stateful.wat: what the agreement test needs beyond the examples' plugins.
;;
;; - At the VM's start it counts `stateful_starts` and logs `stateful started` at info: a
;;   counter and a log line from before any scenario.
;; - Each request raises the gauge `stateful_seen` to the number of requests the VM has
;;   seen: state that lives as long as the VM (and, in Envoy, its process).
;; - Each response is replaced, from the response side, by a local reply 502 with the body
;;   `from the response side`: the upstream has had the request by then.
;;
;; Memory: 8 and 12 the metrics' ids, 64.. strings, 1024.. a bump heap.
(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "stateful_starts")         ;; 15 bytes
  (data (i32.const 80) "stateful_seen")           ;; 13 bytes
  (data (i32.const 96) "stateful started")        ;; 16 bytes
  (data (i32.const 128) "from_response")          ;; 13 bytes: the reply's details
  (data (i32.const 144) "from the response side") ;; 22 bytes: its body
  (global $heap (mut i32) (i32.const 1024))
  (global $seen (mut i64) (i64.const 0))

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

  ;; Metric type 0 is a counter, 1 a gauge.
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 64) (i32.const 15) (i32.const 8)))
    (drop (call $define (i32.const 1) (i32.const 80) (i32.const 13) (i32.const 12)))
    (drop (call $increment (i32.load (i32.const 8)) (i64.const 1)))
    (drop (call $log (i32.const 2) (i32.const 96) (i32.const 16)))
    (i32.const 1))

  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $seen (i64.add (global.get $seen) (i64.const 1)))
    (drop (call $record (i32.load (i32.const 12)) (global.get $seen)))
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $local_reply
      (i32.const 502)
      (i32.const 128) (i32.const 13)
      (i32.const 144) (i32.const 22)
      (i32.const 0) (i32.const 0)
      (i32.const -1)))
    (i32.const 1))
)
