;; istio_stats.wat: request metrics for a stock Envoy, written by hand in WebAssembly
;; text against the proxy-wasm ABI 0.2.1. meshc assembles it with the `wat` crate and
;; inlines it in the bootstrap, so no wasm32 toolchain is needed to build meshc.
;;
;; The module knows neither Istio nor Envoy's attribute names. It follows a template
;; that meshc writes into the plugin configuration. When a stream ends
;; (proxy_on_log, which also runs for local replies), it builds one stat name per
;; metric of the template and increments or records it. A stat name is
;;
;;     PREFIX LABEL=.=VALUE;.; LABEL=.=VALUE;.; ... NAME      (written without spaces)
;;
;; for example `istio_reporter=.=destination;.;response_code=.=200;.;requests_total`.
;; The bootstrap's stats_tags (one regex `(LABEL=\.=(.*?);\.;)` per label) cut the
;; pieces back out of the name as tags, so /stats/prometheus shows
;; `istio_requests_total{reporter="destination",response_code="200"} 1`.
;;
;; THE TEMPLATE is text, one record per line. Words are separated by spaces. A word
;; may not contain a space, a tab, a newline or `%`; such bytes are written `%XX`
;; (two hex digits) and decoded here. An empty field is written as no word at all.
;; Blank lines and lines whose first word starts with `#` are ignored.
;;
;;     prefix [TEXT]              the start of the stat names of the metrics that follow
;;     metric KIND [NAME]         a new metric; KIND is `counter` or `histogram`
;;     value DIVISOR SEGMENT...   optional, right after `metric`: the value is the int64
;;                                attribute SEGMENT... divided by DIVISOR (a positive
;;                                decimal). Without it the value is 1. When the
;;                                attribute cannot be read, the metric is skipped for
;;                                that stream.
;;     label NAME literal [TEXT]  a label with a fixed value
;;     label NAME attribute SEGMENT...
;;                                a label whose value is an Envoy attribute, read with
;;                                proxy_get_property (path `response code` = the
;;                                attribute response.code)
;;     label NAME header HEADER   a label whose value is a request header
;;
;; Example (what meshc writes for istio_requests_total):
;;
;;     prefix istio_
;;     metric counter requests_total
;;     label reporter literal destination
;;     label response_code attribute response code
;;     metric histogram request_duration_milliseconds
;;     value 1000000 request duration
;;     label reporter literal destination
;;
;; Attribute values are printed as follows. Printable bytes are used as they are
;; (except 8 bytes with one above 0x7f). Any other 8-byte value is a little-endian
;; int64, printed in decimal. A 1-byte 0 or 1 is
;; `false` or `true`. Anything else, and an attribute or header that is missing, empty
;; or fails to read, is `unknown`. The module never traps on a failed read: it checks
;; the status of every host call. In every part of a stat name, `;`, `=` and control
;; bytes become `_`, so a value can never end or fake a piece.
;;
;; proxy_on_configure checks the whole template and returns 0 (Envoy then rejects the
;; configuration) with an error log naming the bad line. There is one template per VM:
;; a later proxy_on_configure replaces it, so meshc gives every distinct template its
;; own vm_id.
;;
;; Memory (fixed regions, then a bump heap):
;;       0  out-parameters of host calls (pointer, size, metric id)
;;      16  constant strings (data segments below)
;;    1024  the attribute path or header name being looked up (4 KiB)
;;    8191  the kind of the metric being built (part of the cache key)
;;    8192  the stat name being built (32 KiB; longer names are skipped)
;;   40960  cache of metric ids: 1024 slots of (hash, key pointer, key size, id)
;;   65536  the cache's copies of the keys (128 KiB)
;;  196608  heap: the configuration, then what the host hands over during one
;;          proxy_on_log (attribute values), reset at the start of the next one.
;; Metric ids are cached because Envoy adds an entry to a table for every
;; proxy_define_metric call, even for a name it already knows. When the cache is full
;; it is emptied; the ids it held stay valid in Envoy.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record_metric (param i32 i64) (result i32)))

  (memory (export "memory") 4)

  (data (i32.const 16) "prefix")      ;; 6
  (data (i32.const 24) "metric")      ;; 6
  (data (i32.const 32) "value")       ;; 5
  (data (i32.const 40) "label")       ;; 5
  (data (i32.const 48) "counter")     ;; 7
  (data (i32.const 56) "histogram")   ;; 9
  (data (i32.const 72) "literal")     ;; 7
  (data (i32.const 80) "attribute")   ;; 9
  (data (i32.const 96) "header")      ;; 6
  (data (i32.const 104) "unknown")    ;; 7
  (data (i32.const 112) "true")       ;; 4
  (data (i32.const 120) "false")      ;; 5
  (data (i32.const 128) "=.=")        ;; 3
  (data (i32.const 132) ";.;")        ;; 3
  (data (i32.const 160) "stats plugin: bad configuration line: ")  ;; 38
  (data (i32.const 224) "stats plugin: cannot read the configuration")  ;; 43
  ;; 992..1024: scratch for printing numbers

  (global $PATH i32 (i32.const 1024))
  (global $PATH_END i32 (i32.const 5120))
  (global $NAME i32 (i32.const 8192))
  (global $NAME_END i32 (i32.const 40960))
  (global $CACHE i32 (i32.const 40960))
  (global $ARENA i32 (i32.const 65536))
  (global $ARENA_END i32 (i32.const 196608))
  (global $HEAP i32 (i32.const 196608))

  (global $heap (mut i32) (i32.const 196608))  ;; next free heap byte
  (global $mark (mut i32) (i32.const 196608))  ;; heap below this is kept (the configuration)
  (global $cfg (mut i32) (i32.const 0))
  (global $cfg_len (mut i32) (i32.const 0))
  ;; the line being read: cursor, end; the last word read
  (global $lp (mut i32) (i32.const 0))
  (global $le (mut i32) (i32.const 0))
  (global $wp (mut i32) (i32.const 0))
  (global $wl (mut i32) (i32.const 0))
  ;; the current prefix (a word of the template)
  (global $pre_p (mut i32) (i32.const 0))
  (global $pre_l (mut i32) (i32.const 0))
  ;; the metric being built
  (global $m_on (mut i32) (i32.const 0))
  (global $m_kind (mut i32) (i32.const 0))    ;; 0 counter, 2 histogram (proxy-wasm MetricType)
  (global $m_np (mut i32) (i32.const 0))      ;; its name (a word of the template)
  (global $m_nl (mut i32) (i32.const 0))
  (global $m_div (mut i64) (i64.const 0))     ;; 0: the value is 1
  (global $m_vp (mut i32) (i32.const 0))      ;; the value's attribute path words
  (global $m_ve (mut i32) (i32.const 0))
  (global $m_val (mut i32) (i32.const 0))     ;; while checking: a value record was seen
  ;; output cursors
  (global $np (mut i32) (i32.const 8192))     ;; end of the stat name
  (global $overflow (mut i32) (i32.const 0))
  (global $pp (mut i32) (i32.const 1024))     ;; end of the path
  (global $path_bad (mut i32) (i32.const 0))
  ;; metric id cache
  (global $arena (mut i32) (i32.const 65536))
  (global $used (mut i32) (i32.const 0))
  (global $id (mut i32) (i32.const 0))

  (func (export "proxy_abi_version_0_2_1"))

  ;; ---- memory ----

  ;; Bump allocator, 8-byte aligned, growing the memory when needed; 0 when it cannot.
  (func $alloc (param $size i32) (result i32)
    (local $start i32) (local $end i32) (local $have i32)
    (local.set $start (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $start) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $start)) (then (return (i32.const 0))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.lt_s
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                                      (i32.const 16)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $start))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (call $alloc (local.get $size)))

  ;; ---- bytes ----

  (func $eq (param $a i32) (param $an i32) (param $b i32) (param $bn i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $an) (local.get $bn)) (then (return (i32.const 0))))
    (block $differ
      (loop $next
        (if (i32.ge_u (local.get $i) (local.get $an)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                               (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $space (param $c i32) (result i32)
    (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
            (i32.eq (local.get $c) (i32.const 13))))

  ;; The value of a hex digit, or -1.
  (func $hex (param $c i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
      (then (return (i32.sub (local.get $c) (i32.const 48)))))
    (local.set $c (i32.or (local.get $c) (i32.const 32)))  ;; lower case
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 102)))
      (then (return (i32.sub (local.get $c) (i32.const 87)))))
    (i32.const -1))

  ;; The next word of the line into $wp/$wl; 0 at the end of the line.
  (func $word (result i32)
    (block $done
      (loop $skip
        (br_if $done (i32.ge_u (global.get $lp) (global.get $le)))
        (br_if $done (i32.eqz (call $space (i32.load8_u (global.get $lp)))))
        (global.set $lp (i32.add (global.get $lp) (i32.const 1)))
        (br $skip)))
    (if (i32.ge_u (global.get $lp) (global.get $le)) (then (return (i32.const 0))))
    (global.set $wp (global.get $lp))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (global.get $lp) (global.get $le)))
        (br_if $done (call $space (i32.load8_u (global.get $lp))))
        (global.set $lp (i32.add (global.get $lp) (i32.const 1)))
        (br $scan)))
    (global.set $wl (i32.sub (global.get $lp) (global.get $wp)))
    (i32.const 1))

  ;; Is the last word the keyword at $kw?
  (func $is (param $kw i32) (param $kl i32) (result i32)
    (call $eq (global.get $wp) (global.get $wl) (local.get $kw) (local.get $kl)))

  ;; Are the `%` escapes of the last word well formed?
  (func $valid (result i32)
    (local $i i32)
    (loop $next
      (if (i32.ge_u (local.get $i) (global.get $wl)) (then (return (i32.const 1))))
      (if (i32.eq (i32.load8_u (i32.add (global.get $wp) (local.get $i))) (i32.const 37))
        (then
          (if (i32.ge_u (i32.add (local.get $i) (i32.const 2)) (global.get $wl)) (then (return (i32.const 0))))
          (if (i32.lt_s (call $hex (i32.load8_u (i32.add (global.get $wp) (i32.add (local.get $i) (i32.const 1)))))
                        (i32.const 0))
            (then (return (i32.const 0))))
          (if (i32.lt_s (call $hex (i32.load8_u (i32.add (global.get $wp) (i32.add (local.get $i) (i32.const 2)))))
                        (i32.const 0))
            (then (return (i32.const 0))))
          (local.set $i (i32.add (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (i32.const 1))

  ;; Are there between $min and $max more words on the line, all well formed?
  (func $rest (param $min i32) (param $max i32) (result i32)
    (local $n i32)
    (block $end
      (loop $next
        (br_if $end (i32.eqz (call $word)))
        (if (i32.eqz (call $valid)) (then (return (i32.const 0))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.and (i32.ge_u (local.get $n) (local.get $min)) (i32.le_u (local.get $n) (local.get $max))))

  ;; The decimal number of the last word; 0 if it is not one.
  (func $number (result i64)
    (local $i i32) (local $c i32) (local $v i64)
    (if (i32.eqz (global.get $wl)) (then (return (i64.const 0))))
    (if (i32.gt_u (global.get $wl) (i32.const 18)) (then (return (i64.const 0))))
    (loop $next
      (if (i32.ge_u (local.get $i) (global.get $wl)) (then (return (local.get $v))))
      (local.set $c (i32.sub (i32.load8_u (i32.add (global.get $wp) (local.get $i))) (i32.const 48)))
      (if (i32.gt_u (local.get $c) (i32.const 9)) (then (return (i64.const 0))))
      (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (local.get $v))

  ;; ---- the stat name ----

  (func $put (param $c i32)
    (if (i32.lt_u (global.get $np) (global.get $NAME_END))
      (then
        (i32.store8 (global.get $np) (local.get $c))
        (global.set $np (i32.add (global.get $np) (i32.const 1))))
      (else (global.set $overflow (i32.const 1)))))

  (func $put_raw (param $p i32) (param $n i32)
    (local $i i32)
    (loop $next
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (call $put (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))))

  ;; One byte of a name or value: `;`, `=` and control bytes become `_`.
  (func $put_clean (param $c i32)
    (if (i32.or (i32.or (i32.eq (local.get $c) (i32.const 59)) (i32.eq (local.get $c) (i32.const 61)))
                (i32.or (i32.lt_u (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 127))))
      (then (local.set $c (i32.const 95))))
    (call $put (local.get $c)))

  (func $put_clean_raw (param $p i32) (param $n i32)
    (local $i i32)
    (loop $next
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (call $put_clean (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))))

  ;; A word of the template, decoded and cleaned.
  (func $put_word (param $p i32) (param $n i32)
    (local $i i32) (local $c i32)
    (loop $next
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (if (i32.and (i32.eq (local.get $c) (i32.const 37)) (i32.lt_u (i32.add (local.get $i) (i32.const 2)) (local.get $n)))
            (then
              (local.set $c (i32.or
                (i32.shl (call $hex (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 1))))) (i32.const 4))
                (call $hex (i32.load8_u (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 2)))))))
              (local.set $i (i32.add (local.get $i) (i32.const 2)))))
          (call $put_clean (i32.and (local.get $c) (i32.const 255)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))))

  (func $put_i64 (param $v i64)
    (local $p i32)
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then
        (call $put (i32.const 45))
        (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
    (local.set $p (i32.const 1024))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put_raw (local.get $p) (i32.sub (i32.const 1024) (local.get $p))))

  (func $put_unknown (call $put_raw (i32.const 104) (i32.const 7)))

  ;; The attribute value at OUT (pointer at 0, size at 4), as described at the top.
  (func $put_value
    (local $p i32) (local $n i32) (local $i i32) (local $c i32)
    (local.set $p (i32.load (i32.const 0)))
    (local.set $n (i32.load (i32.const 4)))
    (if (i32.eqz (local.get $n)) (then (call $put_unknown) (return)))
    (block $binary
      (loop $next
        (if (i32.lt_u (local.get $i) (local.get $n))
          (then
            (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
            (br_if $binary (i32.or (i32.lt_u (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 127))))
            ;; 8 bytes with one above ASCII: an int64 (a small negative one, say)
            (br_if $binary (i32.and (i32.eq (local.get $n) (i32.const 8)) (i32.gt_u (local.get $c) (i32.const 127))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next))))
      (call $put_clean_raw (local.get $p) (local.get $n))  ;; printable: a string
      (return))
    (if (i32.eq (local.get $n) (i32.const 8))
      (then (call $put_i64 (i64.load (local.get $p))) (return)))
    (if (i32.eq (local.get $n) (i32.const 1))
      (then
        (if (i32.eqz (i32.load8_u (local.get $p))) (then (call $put_raw (i32.const 120) (i32.const 5)) (return)))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 1)) (then (call $put_raw (i32.const 112) (i32.const 4)) (return)))))
    (call $put_unknown))

  ;; ---- host lookups ----

  ;; The remaining words of the line, decoded, joined by NUL bytes into PATH.
  (func $path (result i32)
    (local $i i32) (local $c i32) (local $first i32)
    (global.set $pp (global.get $PATH))
    (global.set $path_bad (i32.const 0))
    (local.set $first (i32.const 1))
    (block $end
      (loop $words
        (br_if $end (i32.eqz (call $word)))
        (if (i32.eqz (local.get $first)) (then (call $path_put (i32.const 0))))
        (local.set $first (i32.const 0))
        (local.set $i (i32.const 0))
        (loop $bytes
          (if (i32.lt_u (local.get $i) (global.get $wl))
            (then
              (local.set $c (i32.load8_u (i32.add (global.get $wp) (local.get $i))))
              (if (i32.and (i32.eq (local.get $c) (i32.const 37)) (i32.lt_u (i32.add (local.get $i) (i32.const 2)) (global.get $wl)))
                (then
                  (local.set $c (i32.or
                    (i32.shl (call $hex (i32.load8_u (i32.add (global.get $wp) (i32.add (local.get $i) (i32.const 1))))) (i32.const 4))
                    (call $hex (i32.load8_u (i32.add (global.get $wp) (i32.add (local.get $i) (i32.const 2)))))))
                  (local.set $i (i32.add (local.get $i) (i32.const 2)))))
              (call $path_put (i32.and (local.get $c) (i32.const 255)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $bytes))))
        (br $words)))
    (i32.sub (global.get $pp) (global.get $PATH)))

  (func $path_put (param $c i32)
    (if (i32.lt_u (global.get $pp) (global.get $PATH_END))
      (then
        (i32.store8 (global.get $pp) (local.get $c))
        (global.set $pp (i32.add (global.get $pp) (i32.const 1))))
      (else (global.set $path_bad (i32.const 1)))))

  ;; Reads the attribute at PATH into OUT; 1 on success. The status is checked, so a
  ;; missing or unserializable attribute is just a failure.
  (func $property (param $n i32) (result i32)
    (if (i32.or (global.get $path_bad) (i32.eqz (local.get $n))) (then (return (i32.const 0))))
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.eqz (call $get_property (global.get $PATH) (local.get $n) (i32.const 0) (i32.const 4))))

  ;; ---- metric ids ----

  ;; FNV-1a.
  (func $hash (param $p i32) (param $n i32) (result i32)
    (local $h i32) (local $i i32)
    (local.set $h (i32.const -2128831035))
    (loop $next
      (if (i32.lt_u (local.get $i) (local.get $n))
        (then
          (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                                 (i32.const 16777619)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next))))
    (local.get $h))

  (func $cache_clear
    (local $i i32)
    (loop $next
      (i32.store (i32.add (global.get $CACHE) (i32.add (i32.shl (local.get $i) (i32.const 4)) (i32.const 4))) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 1024))))
    (global.set $arena (global.get $ARENA))
    (global.set $used (i32.const 0)))

  ;; The id of the metric named NAME..$np of kind $m_kind into $id; 0 if Envoy refused it.
  ;; The key is the kind byte at NAME-1 followed by the name.
  (func $metric_id (result i32)
    (local $key i32) (local $kl i32) (local $h i32) (local $i i32) (local $slot i32)
    (local.set $key (i32.sub (global.get $NAME) (i32.const 1)))
    (i32.store8 (local.get $key) (global.get $m_kind))
    (local.set $kl (i32.sub (global.get $np) (local.get $key)))
    (if (i32.or (i32.ge_u (global.get $used) (i32.const 768))
                (i32.gt_u (i32.add (global.get $arena) (local.get $kl)) (global.get $ARENA_END)))
      (then (call $cache_clear)))
    (local.set $h (call $hash (local.get $key) (local.get $kl)))
    (local.set $i (i32.and (local.get $h) (i32.const 1023)))
    (block $insert
      (loop $probe
        (local.set $slot (i32.add (global.get $CACHE) (i32.shl (local.get $i) (i32.const 4))))
        (br_if $insert (i32.eqz (i32.load offset=4 (local.get $slot))))
        (if (i32.and (i32.eq (i32.load (local.get $slot)) (local.get $h))
                     (call $eq (i32.load offset=4 (local.get $slot)) (i32.load offset=8 (local.get $slot))
                               (local.get $key) (local.get $kl)))
          (then
            (global.set $id (i32.load offset=12 (local.get $slot)))
            (return (i32.const 1))))
        (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 1023)))
        (br $probe)))
    (if (call $define_metric (global.get $m_kind) (global.get $NAME)
                             (i32.sub (global.get $np) (global.get $NAME)) (i32.const 8))
      (then (return (i32.const 0))))
    (global.set $id (i32.load (i32.const 8)))
    (local.set $i (i32.const 0))
    (loop $copy
      (if (i32.lt_u (local.get $i) (local.get $kl))
        (then
          (i32.store8 (i32.add (global.get $arena) (local.get $i))
                      (i32.load8_u (i32.add (local.get $key) (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $copy))))
    (i32.store (local.get $slot) (local.get $h))
    (i32.store offset=4 (local.get $slot) (global.get $arena))
    (i32.store offset=8 (local.get $slot) (local.get $kl))
    (i32.store offset=12 (local.get $slot) (global.get $id))
    (global.set $arena (i32.add (global.get $arena) (local.get $kl)))
    (global.set $used (i32.add (global.get $used) (i32.const 1)))
    (i32.const 1))

  ;; ---- running the template ----

  ;; Completes the metric being built: appends its name, reads its value, and
  ;; increments or records it.
  (func $finish
    (local $v i64)
    (if (i32.eqz (global.get $m_on)) (then (return)))
    (global.set $m_on (i32.const 0))
    (call $put_word (global.get $m_np) (global.get $m_nl))
    (if (global.get $overflow) (then (return)))
    (local.set $v (i64.const 1))
    (if (i64.ne (global.get $m_div) (i64.const 0))
      (then
        (global.set $lp (global.get $m_vp))
        (global.set $le (global.get $m_ve))
        (if (i32.eqz (call $property (call $path))) (then (return)))
        (if (i32.ne (i32.load (i32.const 4)) (i32.const 8)) (then (return)))
        (local.set $v (i64.load (i32.load (i32.const 0))))
        (if (i64.lt_s (local.get $v) (i64.const 0)) (then (local.set $v (i64.const 0))))
        (local.set $v (i64.div_u (local.get $v) (global.get $m_div)))))
    (if (i32.eqz (call $metric_id)) (then (return)))
    (if (i32.eqz (global.get $m_kind))
      (then (drop (call $increment_metric (global.get $id) (local.get $v))))
      (else (drop (call $record_metric (global.get $id) (local.get $v))))))

  ;; Runs one line of the (already checked) template.
  (func $run_line
    (local $lp i32) (local $le i32)
    (if (i32.eqz (call $word)) (then (return)))
    (if (i32.eq (i32.load8_u (global.get $wp)) (i32.const 35)) (then (return)))  ;; #
    (if (call $is (i32.const 16) (i32.const 6))  ;; prefix
      (then
        (global.set $pre_p (i32.const 0))
        (global.set $pre_l (i32.const 0))
        (if (call $word)
          (then (global.set $pre_p (global.get $wp)) (global.set $pre_l (global.get $wl))))
        (return)))
    (if (call $is (i32.const 24) (i32.const 6))  ;; metric
      (then
        (local.set $lp (global.get $lp))
        (local.set $le (global.get $le))
        (call $finish)
        (global.set $lp (local.get $lp))
        (global.set $le (local.get $le))
        (drop (call $word))
        (global.set $m_kind (select (i32.const 0) (i32.const 2) (call $is (i32.const 48) (i32.const 7))))
        (global.set $m_np (i32.const 0))
        (global.set $m_nl (i32.const 0))
        (if (call $word)
          (then (global.set $m_np (global.get $wp)) (global.set $m_nl (global.get $wl))))
        (global.set $m_div (i64.const 0))
        (global.set $np (global.get $NAME))
        (global.set $overflow (i32.const 0))
        (call $put_word (global.get $pre_p) (global.get $pre_l))
        (global.set $m_on (i32.const 1))
        (return)))
    (if (call $is (i32.const 32) (i32.const 5))  ;; value
      (then
        (drop (call $word))
        (global.set $m_div (call $number))
        (global.set $m_vp (global.get $lp))
        (global.set $m_ve (global.get $le))
        (return)))
    ;; label NAME SOURCE ...
    (drop (call $word))
    (call $put_word (global.get $wp) (global.get $wl))
    (call $put_raw (i32.const 128) (i32.const 3))
    (drop (call $word))
    (if (call $is (i32.const 72) (i32.const 7))  ;; literal
      (then
        (if (call $word) (then (call $put_word (global.get $wp) (global.get $wl)))))
      (else
        (if (call $is (i32.const 80) (i32.const 9))  ;; attribute
          (then
            (if (call $property (call $path))
              (then (call $put_value))
              (else (call $put_unknown))))
          (else  ;; header
            (i32.store (i32.const 0) (i32.const 0))
            (i32.store (i32.const 4) (i32.const 0))
            (if (i32.and
                  (i32.eqz (call $get_header (i32.const 0) (global.get $PATH) (call $path) (i32.const 0) (i32.const 4)))
                  (i32.eqz (global.get $path_bad)))
              (then
                (if (i32.load (i32.const 4))
                  (then (call $put_clean_raw (i32.load (i32.const 0)) (i32.load (i32.const 4))))
                  (else (call $put_unknown))))
              (else (call $put_unknown)))))))
    (call $put_raw (i32.const 132) (i32.const 3)))

  ;; Checks one line of the template; 0 if it is wrong.
  (func $check_line (result i32)
    (if (i32.eqz (call $word)) (then (return (i32.const 1))))
    (if (i32.eq (i32.load8_u (global.get $wp)) (i32.const 35)) (then (return (i32.const 1))))  ;; #
    (if (call $is (i32.const 16) (i32.const 6))  ;; prefix [TEXT]
      (then (return (call $rest (i32.const 0) (i32.const 1)))))
    (if (call $is (i32.const 24) (i32.const 6))  ;; metric KIND [NAME]
      (then
        (if (i32.eqz (call $word)) (then (return (i32.const 0))))
        (if (i32.eqz (i32.or (call $is (i32.const 48) (i32.const 7)) (call $is (i32.const 56) (i32.const 9))))
          (then (return (i32.const 0))))
        (global.set $m_on (i32.const 1))
        (global.set $m_val (i32.const 0))
        (return (call $rest (i32.const 0) (i32.const 1)))))
    (if (call $is (i32.const 32) (i32.const 5))  ;; value DIVISOR SEGMENT...
      (then
        (if (i32.or (i32.eqz (global.get $m_on)) (global.get $m_val)) (then (return (i32.const 0))))
        (global.set $m_val (i32.const 1))
        (if (i32.eqz (call $word)) (then (return (i32.const 0))))
        (if (i64.eqz (call $number)) (then (return (i32.const 0))))
        (return (call $rest (i32.const 1) (i32.const 1024)))))
    (if (call $is (i32.const 40) (i32.const 5))  ;; label NAME SOURCE ...
      (then
        (if (i32.eqz (global.get $m_on)) (then (return (i32.const 0))))
        (global.set $m_val (i32.const 1))  ;; a value record must come before the labels
        (if (i32.eqz (call $word)) (then (return (i32.const 0))))
        (if (i32.eqz (call $valid)) (then (return (i32.const 0))))
        (if (i32.eqz (call $word)) (then (return (i32.const 0))))
        (if (call $is (i32.const 72) (i32.const 7)) (then (return (call $rest (i32.const 0) (i32.const 1)))))
        (if (call $is (i32.const 80) (i32.const 9)) (then (return (call $rest (i32.const 1) (i32.const 1024)))))
        (if (call $is (i32.const 96) (i32.const 6)) (then (return (call $rest (i32.const 1) (i32.const 1)))))
        (return (i32.const 0))))
    (i32.const 0))

  ;; Walks the template, line by line: checking it ($check = 1) or running it.
  (func $walk (param $check i32) (result i32)
    (local $cur i32) (local $end i32) (local $nl i32)
    (local.set $cur (global.get $cfg))
    (local.set $end (i32.add (global.get $cfg) (global.get $cfg_len)))
    (global.set $m_on (i32.const 0))
    (global.set $pre_p (i32.const 0))
    (global.set $pre_l (i32.const 0))
    (block $done
      (loop $lines
        (br_if $done (i32.ge_u (local.get $cur) (local.get $end)))
        (local.set $nl (local.get $cur))
        (block $found
          (loop $scan
            (br_if $found (i32.ge_u (local.get $nl) (local.get $end)))
            (br_if $found (i32.eq (i32.load8_u (local.get $nl)) (i32.const 10)))
            (local.set $nl (i32.add (local.get $nl) (i32.const 1)))
            (br $scan)))
        (global.set $lp (local.get $cur))
        (global.set $le (local.get $nl))
        (if (local.get $check)
          (then
            (if (i32.eqz (call $check_line))
              (then
                (global.set $np (global.get $NAME))
                (call $put_raw (i32.const 160) (i32.const 38))
                (call $put_raw (local.get $cur) (i32.sub (local.get $nl) (local.get $cur)))
                (drop (call $log (i32.const 4) (global.get $NAME) (i32.sub (global.get $np) (global.get $NAME))))
                (return (i32.const 0)))))
          (else (call $run_line)))
        (local.set $cur (i32.add (local.get $nl) (i32.const 1)))
        (br $lines)))
    (if (i32.eqz (local.get $check)) (then (call $finish)))
    (global.set $m_on (i32.const 0))
    (i32.const 1))

  ;; ---- entry points ----

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  ;; Reads and checks the template. It is kept above the heap mark; a template that
  ;; fails the check is dropped and the previous one stays.
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (local $old i32) (local $old_len i32)
    (global.set $heap (global.get $mark))
    (local.set $old (global.get $cfg))
    (local.set $old_len (global.get $cfg_len))
    (global.set $cfg (i32.const 0))
    (global.set $cfg_len (i32.const 0))
    (if (local.get $size)
      (then
        (if (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4))
          (then
            (drop (call $log (i32.const 4) (i32.const 224) (i32.const 43)))
            (global.set $cfg (local.get $old))
            (global.set $cfg_len (local.get $old_len))
            (global.set $heap (global.get $mark))
            (return (i32.const 0))))
        (global.set $cfg (i32.load (i32.const 0)))
        (global.set $cfg_len (i32.load (i32.const 4)))))
    (if (i32.eqz (call $walk (i32.const 1)))
      (then
        (global.set $cfg (local.get $old))
        (global.set $cfg_len (local.get $old_len))
        (global.set $heap (global.get $mark))
        (return (i32.const 0))))
    (global.set $mark (global.get $heap))
    (i32.const 1))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))

  ;; Every stream, local replies included, ends here. What the host handed over
  ;; during the previous stream is dropped first, so the heap stays bounded.
  (func (export "proxy_on_log") (param $context i32)
    (global.set $heap (global.get $mark))
    (drop (call $walk (i32.const 0))))

  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
)
