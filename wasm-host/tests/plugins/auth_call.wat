;; auth_call.wat: for every request, dispatches an http call to cluster `auth` (GET /check)
;; and pauses. When the answer comes, a `:status` of 200 adds `x-auth: ok` to the request
;; and resumes it; anything else (or a failed call) sends a local reply 403.
;;
;; Memory: 0 out-parameters, 64 strings, 256 the call's headers, 1024.. a bump heap.
(module
  (import "env" "proxy_http_call"
    (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value"
    (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "auth")      ;; 4 bytes: the cluster
  (data (i32.const 72) ":status")   ;; 7 bytes
  (data (i32.const 80) "x-auth")    ;; 6 bytes
  (data (i32.const 88) "ok")        ;; 2 bytes
  (data (i32.const 96) "denied")    ;; 6 bytes
  ;; :method GET, :path /check, :authority auth: 69 bytes.
  (data (i32.const 256)
    "\03\00\00\00"
    "\07\00\00\00" "\03\00\00\00" "\05\00\00\00" "\06\00\00\00" "\0a\00\00\00" "\04\00\00\00"
    ":method\00" "GET\00" ":path\00" "/check\00" ":authority\00" "auth\00")
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

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; No body, no trailers; a timeout of 500 ms; the token goes to address 8.
    (if (call $http_call (i32.const 64) (i32.const 4) (i32.const 256) (i32.const 69)
                         (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                         (i32.const 500) (i32.const 8))
      (then (unreachable)))
    (i32.const 1))

  (func (export "proxy_on_http_call_response")
        (param $ctx i32) (param $token i32) (param $headers i32) (param $body i32) (param $trailers i32)
    (local $v i32)
    ;; Map type 6: the call's response headers.
    (if (i32.eqz (call $get_header (i32.const 6) (i32.const 72) (i32.const 7) (i32.const 0) (i32.const 4)))
      (then
        (local.set $v (i32.load (i32.const 0)))
        (if (i32.and
              (i32.eq (i32.load (i32.const 4)) (i32.const 3))
              (i32.and
                (i32.eq (i32.load8_u (local.get $v)) (i32.const 50))
                (i32.and
                  (i32.eq (i32.load8_u offset=1 (local.get $v)) (i32.const 48))
                  (i32.eq (i32.load8_u offset=2 (local.get $v)) (i32.const 48)))))
          (then
            (drop (call $add_header (i32.const 0) (i32.const 80) (i32.const 6) (i32.const 88) (i32.const 2)))
            (drop (call $continue (i32.const 0)))
            (return)))))
    (drop (call $local_reply (i32.const 403) (i32.const 96) (i32.const 6)
                             (i32.const 96) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const -1))))
)
