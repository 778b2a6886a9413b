;; require_header.wat: its plugin configuration is the name of a header (plain bytes, no
;; JSON). A request without that header gets a local reply 403; others pass unchanged.
;; An empty configuration is refused: proxy_on_configure logs why and returns false.
;;
;; Memory: 0 out-parameters (pointer, size), 64 strings, 256 the local reply's headers,
;; 1024.. a bump heap.
(module
  (import "env" "proxy_get_buffer_bytes"
    (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value"
    (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "missing_header")                ;; 14 bytes: the reply's details
  (data (i32.const 80) "forbidden\n")                   ;; 10 bytes: its body
  (data (i32.const 96) "no header name in the plugin configuration") ;; 42 bytes
  ;; One header, content-type: text/plain, serialized as the ABI's header map.
  (data (i32.const 256)
    "\01\00\00\00" "\0c\00\00\00" "\0a\00\00\00" "content-type\00" "text/plain\00")
  (global $heap (mut i32) (i32.const 1024))
  ;; Where the configured header name is (in the heap) and its length.
  (global $name (mut i32) (i32.const 0))
  (global $name_len (mut i32) (i32.const 0))

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

  ;; Buffer type 7 is the plugin configuration.
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.eqz (local.get $size))
      (then
        (drop (call $log (i32.const 4) (i32.const 96) (i32.const 42)))
        (return (i32.const 0))))
    (if (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4))
      (then (return (i32.const 0))))
    (global.set $name (i32.load (i32.const 0)))
    (global.set $name_len (i32.load (i32.const 4)))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; Status 0 (Ok): the header is there.
    (if (i32.eqz (call $get_header (i32.const 0) (global.get $name) (global.get $name_len)
                                   (i32.const 0) (i32.const 4)))
      (then (return (i32.const 0))))
    (drop (call $local_reply
      (i32.const 403)
      (i32.const 64) (i32.const 14)
      (i32.const 80) (i32.const 10)
      (i32.const 256) (i32.const 36)
      (i32.const -1)))
    ;; Pause: the local reply ends the stream.
    (i32.const 1))
)
