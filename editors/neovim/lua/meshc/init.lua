-- The meshc language server for Neovim 0.8 and later, without nvim-lspconfig:
--
--   require('meshc').setup()                          -- defaults
--   require('meshc').setup({ cmd = { '/path/to/meshc', 'lsp' } })
--
-- On Neovim 0.11 and later this defines the `meshc` config (from lsp/meshc.lua, with
-- `opts` merged over it) and enables it; before 0.11 it starts the server with
-- vim.lsp.start() for every `mesh` buffer.
local M = {}

--- The server command: `meshc lsp`, or the standalone meshc-language-server when
--- only that is on PATH.
function M.default_cmd()
  if vim.fn.executable('meshc') ~= 1 and vim.fn.executable('meshc-language-server') == 1 then
    return { 'meshc-language-server' }
  end
  return { 'meshc', 'lsp' }
end

--- The folder of the package that holds `path`: the nearest one with mesh.toml (or .git).
function M.root_dir(path)
  local found = vim.fs.find({ 'mesh.toml', '.git' }, { path = vim.fs.dirname(path), upward = true })[1]
  return found and vim.fs.dirname(found) or nil
end

function M.setup(opts)
  opts = opts or {}
  vim.filetype.add({ extension = { mesh = 'mesh' } })

  if vim.lsp.config and vim.lsp.enable then
    local config = vim.tbl_extend('force', { cmd = M.default_cmd(), filetypes = { 'mesh' }, root_markers = { 'mesh.toml', '.git' } }, opts)
    vim.lsp.config('meshc', config)
    vim.lsp.enable('meshc')
    return
  end

  vim.api.nvim_create_autocmd('FileType', {
    group = vim.api.nvim_create_augroup('meshc_lsp', { clear = true }),
    pattern = 'mesh',
    callback = function(args)
      local path = vim.api.nvim_buf_get_name(args.buf)
      local config = vim.tbl_extend('force', {
        name = 'meshc',
        cmd = M.default_cmd(),
        root_dir = M.root_dir(path),
      }, opts)
      vim.lsp.start(config, { bufnr = args.buf })
    end,
  })
end

return M
