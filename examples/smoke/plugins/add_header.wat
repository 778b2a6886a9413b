;; add_header.wat: a small proxy-wasm (ABI 0.2.1) HTTP plugin in WebAssembly text,
;; assembled by meshc with the `wat` crate, so the smoke example needs no wasm32
;; toolchain. Its plugin configuration is a JSON object with two strings,
;;
;;     {"header_name": "x-custom-id", "header_value": "injected-by-wasm"}
;;
;; and it adds that header to the request going upstream and to the response.
;;
;; The configuration is read by a tiny scan, not a JSON parser: each key is looked up
;; as `"key"`, then `:` and a string value, with whitespace allowed around the colon.
;; proxy_on_configure returns 0 (Envoy rejects the configuration, with an error log)
;; unless both values are strings, the name is not empty and neither holds a `\`
;; escape, which this scan would copy undecoded.
(module
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: pointer, 4: size, as returned by proxy_get_buffer_bytes
  (data (i32.const 16) "header_name")   ;; 11
  (data (i32.const 32) "header_value")  ;; 12
  (data (i32.const 64) "add_header: the configuration needs \"header_name\" and \"header_value\" strings")  ;; 76

  ;; Bump heap. It only ever holds configurations (one per proxy_on_configure);
  ;; requests allocate nothing.
  (global $heap (mut i32) (i32.const 1024))
  (global $name (mut i32) (i32.const 0))
  (global $name_len (mut i32) (i32.const 0))
  (global $value (mut i32) (i32.const 0))
  (global $value_len (mut i32) (i32.const 0))
  (global $found (mut i32) (i32.const 0))
  (global $found_len (mut i32) (i32.const 0))

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $start i32) (local $end i32) (local $have i32)
    (local.set $start (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $start) (local.get $size)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.lt_s (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                                              (i32.const 16)))
                      (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $start))

  (func $blank (param $c i32) (result i32)
    (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
            (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13)))))

  ;; Is "key" (quotes included) at $p? $end bounds the text.
  (func $key_at (param $p i32) (param $end i32) (param $key i32) (param $n i32) (result i32)
    (local $i i32)
    (if (i32.gt_u (i32.add (local.get $p) (i32.add (local.get $n) (i32.const 2))) (local.get $end))
      (then (return (i32.const 0))))
    (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 34)) (then (return (i32.const 0))))
    (loop $next
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (if (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 1))))
                      (i32.load8_u (i32.add (local.get $key) (local.get $i))))
            (then (return (i32.const 0))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next))))
    (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $n) (i32.const 1)))) (i32.const 34)))

  ;; Finds "key": "value" in json[0..len) into $found/$found_len; 1 if found.
  (func $find (param $json i32) (param $len i32) (param $key i32) (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $json) (local.get $len)))
    (local.set $p (local.get $json))
    (block $none
      (loop $scan
        (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
        (if (call $key_at (local.get $p) (local.get $end) (local.get $key) (local.get $n))
          (then
            (local.set $p (i32.add (local.get $p) (i32.add (local.get $n) (i32.const 2))))
            (block $colon
              (loop $ws
                (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $c (i32.load8_u (local.get $p)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br_if $colon (i32.eq (local.get $c) (i32.const 58)))
                (br_if $none (i32.eqz (call $blank (local.get $c))))
                (br $ws)))
            (block $quote
              (loop $ws
                (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $c (i32.load8_u (local.get $p)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br_if $quote (i32.eq (local.get $c) (i32.const 34)))
                (br_if $none (i32.eqz (call $blank (local.get $c))))
                (br $ws)))
            (global.set $found (local.get $p))
            (loop $chars
              (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
              (local.set $c (i32.load8_u (local.get $p)))
              (br_if $none (i32.eq (local.get $c) (i32.const 92)))  ;; backslash escape
              (if (i32.eq (local.get $c) (i32.const 34))
                (then
                  (global.set $found_len (i32.sub (local.get $p) (global.get $found)))
                  (return (i32.const 1))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $chars))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (local $json i32) (local $len i32)
    (block $bad
      ;; buffer type 7: the plugin configuration
      (br_if $bad (i32.eqz (local.get $size)))
      (br_if $bad (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
      (local.set $json (i32.load (i32.const 0)))
      (local.set $len (i32.load (i32.const 4)))
      (br_if $bad (i32.eqz (call $find (local.get $json) (local.get $len) (i32.const 16) (i32.const 11))))
      (br_if $bad (i32.eqz (global.get $found_len)))
      (global.set $name (global.get $found))
      (global.set $name_len (global.get $found_len))
      (br_if $bad (i32.eqz (call $find (local.get $json) (local.get $len) (i32.const 32) (i32.const 12))))
      (global.set $value (global.get $found))
      (global.set $value_len (global.get $found_len))
      (return (i32.const 1)))
    (drop (call $log (i32.const 4) (i32.const 64) (i32.const 76)))  ;; 4: error
    (i32.const 0))

  (func (export "proxy_on_context_create") (param i32 i32))

  ;; map 0: request headers, 2: response headers. Returns 0: Continue.
  (func $add (param $map i32) (result i32)
    (drop (call $add_header (local.get $map) (global.get $name) (global.get $name_len)
                            (global.get $value) (global.get $value_len)))
    (i32.const 0))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $add (i32.const 0)))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (call $add (i32.const 2)))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
