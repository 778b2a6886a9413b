" Vim syntax file
" Language:    meshc (.mesh files)
" Maintainer:  the meshc project
" A small syntax for Vim and Neovim, after grammar/meshc.tmLanguage.json (the grammar
" the VS Code extension uses); the language server's semantic tokens refine it where
" the editor asks for them. The Lua of lua""" blocks is highlighted as Lua.

if exists('b:current_syntax')
  finish
endif

syn case match
syn sync fromstart

" Lua inside lua"""...""": load Vim's Lua syntax as a cluster.
syn include @meshLua syntax/lua.vim
unlet! b:current_syntax
" Included, lua.vim's `contains=TOP,luaParenError` lets its paren-error match into every
" parenthesis (TOP becomes the whole cluster), which then never closes: drop that match.
silent! syn clear luaParenError

" Declarations (`proxy` and `smoke` below, after the settings).
syn keyword meshDeclaration telemetry wasm_plugin envoy_filter schema metric provider_kind attribute rule nextgroup=meshDeclName skipwhite
syn keyword meshDeclaration let nextgroup=meshConstName skipwhite
syn match   meshDeclName /\h[[:alnum:]_.-]*/ contained
syn match   meshConstName /\h\w*/ contained
syn keyword meshInclude package import nextgroup=meshModule skipwhite
syn match   meshModule /\h[[:alnum:]_.]*/ contained

" Statements and scopes.
syn keyword meshScope mesh in namespace for workload targets target as
syn keyword meshStatement metrics tracing access_log custom tag remove when require message_expression config env from match ports patch value insert before after first
syn keyword meshToggle disabled enabled
syn match   meshMode /(\s*\zs\%(client_and_server\|client\|server\)\ze\s*)/
syn match   meshProperty /\<\h\w*\ze\s*?\=\s*:[^:]/
syn match   meshProperty /^\s*\zs\l\w*\ze\%(\s*{\|[ \t]\+[^ \t:=,)\]}]\)/
" `proxy` and `smoke` are not reserved words: only at the start of a line (as `meshc fmt`
" writes declarations) do they declare something. Defined after the settings' match so
" that it wins there.
syn match   meshDeclaration /^\%(proxy\|smoke\)\ze[ \t]\+\a/ nextgroup=meshDeclName skipwhite

" Values.
syn keyword meshBoolean true false
syn keyword meshNull null
syn match   meshNumber /\%(-\|\<\)\d\+\%(\.\d\+\)\=\%([eE][+-]\=\d\+\)\=\>/
syn match   meshDuration /\<\d\+\%(\.\d\+\)\=\%(ms\|us\|ns\|s\|m\|h\)\>/
syn match   meshPercent /\%(-\|\<\)\d\+\%(\.\d\+\)\=%/
syn match   meshMetric /\<\u[A-Z0-9_]\+\>/
syn match   meshType /\<\u\l\w*\>/
syn match   meshMessageType /\<\%(envoy\|istio\|google\|xds\|udpa\)\%(\.\w\+\)\+\>/

" Strings: "...", """...""" and lua"""...""".
syn match   meshEscape /\\\%(u{\x\+}\|[\\"nrt]\)/ contained
syn region  meshString start=/"/ skip=/\\./ end=/"\|$/ contains=meshEscape oneline
syn region  meshTripleString start=/"""/ end=/"""/
syn region  meshLua matchgroup=meshLuaDelimiter start=/\<lua"""/ end=/"""/ contains=@meshLua keepend

" Comments; `///` documents the declaration below it.
syn keyword meshTodo TODO FIXME XXX NOTE contained
syn match   meshComment "//.*$" contains=meshTodo,@Spell
syn match   meshDocComment "///\%(/\)\@!.*$" contains=meshTodo,@Spell
syn region  meshBlockComment start="/\*" end="\*/" contains=meshTodo,@Spell

hi def link meshDeclaration   Keyword
hi def link meshDeclName      Type
hi def link meshConstName     Identifier
hi def link meshInclude       Include
hi def link meshModule        Identifier
hi def link meshScope         Keyword
hi def link meshStatement     Statement
hi def link meshToggle        Boolean
hi def link meshMode          Constant
hi def link meshProperty      Identifier
hi def link meshBoolean       Boolean
hi def link meshNull          Constant
hi def link meshNumber        Number
hi def link meshDuration      Number
hi def link meshPercent       Number
hi def link meshMetric        Constant
hi def link meshType          Type
hi def link meshMessageType   Type
hi def link meshEscape        SpecialChar
hi def link meshString        String
hi def link meshTripleString  String
hi def link meshLuaDelimiter  String
hi def link meshTodo          Todo
hi def link meshComment       Comment
hi def link meshDocComment    SpecialComment
hi def link meshBlockComment  Comment

let b:current_syntax = 'mesh'
