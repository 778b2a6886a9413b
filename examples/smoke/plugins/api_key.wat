;; api_key.wat: a small proxy-wasm (ABI 0.2.1) HTTP plugin in WebAssembly text that
;; turns away requests without an `x-api-key` header. It needs no configuration.
;;
;; - A request with the header goes on, and the counter `api_key_allowed` counts it.
;; - A request over mutual TLS goes on without one (the property `connection.mtls`).
;; - Any other request gets a local reply: 401, `content-type: text/plain`, the body
;;   `missing x-api-key`. The counter `api_key_denied` counts it, and the plugin logs
;;   `denied a request without x-api-key` at warning level.
;;
;; Memory: 0 out-parameters (pointer, size), 8 and 12 the counters' ids, 64.. strings,
;; 256 the local reply's headers, 1024.. a bump heap.
(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_get_header_map_value"
    (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "api_key_allowed")                     ;; 15 bytes
  (data (i32.const 80) "api_key_denied")                      ;; 14 bytes
  (data (i32.const 96) "x-api-key")                           ;; 9 bytes
  (data (i32.const 112) "api_key_missing")                    ;; 15 bytes: the reply's details
  (data (i32.const 128) "missing x-api-key\n")                ;; 18 bytes: its body
  (data (i32.const 160) "denied a request without x-api-key") ;; 34 bytes
  (data (i32.const 200) "connection\00mtls")                  ;; 15 bytes
  ;; One header, content-type: text/plain, serialized as the ABI's header map.
  (data (i32.const 256)
    "\01\00\00\00" "\0c\00\00\00" "\0a\00\00\00" "content-type\00" "text/plain\00")
  (global $heap (mut i32) (i32.const 1024))

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

  ;; Metric type 0 is a counter; the ids go to addresses 8 and 12.
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 64) (i32.const 15) (i32.const 8)))
    (drop (call $define (i32.const 0) (i32.const 80) (i32.const 14) (i32.const 12)))
    (i32.const 1))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (i32.const 1))

  ;; True when the property connection.mtls is a bool holding true.
  (func $mtls (result i32)
    (if (call $property (i32.const 200) (i32.const 15) (i32.const 0) (i32.const 4))
      (then (return (i32.const 0))))
    (if (i32.eqz (i32.load (i32.const 4)))
      (then (return (i32.const 0))))
    (i32.eq (i32.load8_u (i32.load (i32.const 0))) (i32.const 1)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; Status 0 (Ok): the header is there.
    (if (i32.or (i32.eqz (call $get_header (i32.const 0) (i32.const 96) (i32.const 9) (i32.const 0) (i32.const 4)))
                (call $mtls))
      (then
        (drop (call $increment (i32.load (i32.const 8)) (i64.const 1)))
        (return (i32.const 0))))
    (drop (call $increment (i32.load (i32.const 12)) (i64.const 1)))
    (drop (call $log (i32.const 3) (i32.const 160) (i32.const 34)))
    (drop (call $local_reply
      (i32.const 401)
      (i32.const 112) (i32.const 15)
      (i32.const 128) (i32.const 18)
      (i32.const 256) (i32.const 36)
      (i32.const -1)))
    ;; Pause: the local reply ends the stream.
    (i32.const 1))
)
