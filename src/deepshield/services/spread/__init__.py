"""Stop the spread: hash media, keep hash banks and the live index over them, match uploads,
exchange hash lists with partners, register platform content and sweep it for copies."""
