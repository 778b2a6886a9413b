" `.mesh` files are meshc source (Vim and Neovim).
autocmd BufRead,BufNewFile *.mesh setfiletype mesh
