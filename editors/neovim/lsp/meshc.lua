-- The meshc language server for Neovim 0.11 and later: with this folder on
-- 'runtimepath', `vim.lsp.enable('meshc')` starts it for `mesh` buffers.
-- Override any field with `vim.lsp.config('meshc', { ... })`.
-- `meshc lsp`, or the standalone server when only that is installed.
local cmd = { 'meshc', 'lsp' }
if vim.fn.executable('meshc') ~= 1 and vim.fn.executable('meshc-language-server') == 1 then
  cmd = { 'meshc-language-server' }
end

---@type vim.lsp.Config
return {
  cmd = cmd,
  -- Istio YAML (Telemetry, WasmPlugin, EnvoyFilter) is checked too; the server passes
  -- over YAML of other kinds without a word.
  filetypes = { 'mesh', 'yaml' },
  -- A package is the folder with mesh.toml; the server checks the whole package.
  root_markers = { 'mesh.toml', '.git' },
}
