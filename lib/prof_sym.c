/* SPDX-License-Identifier: MIT */
/* prof_sym.c — addresses to function names, for profiles that name their functions
 * themselves (weft/prof.h).
 *
 * dladdr() sees only the dynamic symbol table, so a static function (most of a program,
 * and the helpers of a plugin) would show as its exported neighbour. Instead each object
 * loaded now (dl_iterate_phdr: the program, libweft, every dlopen'd plugin) is mapped
 * read-only from its file and its full .symtab (or .dynsym when stripped) read: every
 * STT_FUNC symbol with its size, sorted by address. Done once per profile, off any hot
 * path. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct sym { uintptr_t start, end; const char *name; size_t map; };

struct weft__syms {
	struct sym *v;
	size_t n, cap;
	struct weft__sym_map *maps;
	size_t nmaps, capmaps;
	char **files;                  /* file names and symbol name arenas, freed at the end */
	size_t nfiles, capfiles;
	bool oom;
};

static char *keep(struct weft__syms *s, char *p)
{
	if (!p)
		goto oom;
	if (s->nfiles == s->capfiles) {
		size_t cap = s->capfiles ? s->capfiles * 2 : 16;
		char **n = realloc(s->files, cap * sizeof(*n));
		if (!n)
			goto oom;
		s->files = n;
		s->capfiles = cap;
	}
	return s->files[s->nfiles++] = p;
oom:
	free(p);
	s->oom = true;
	return NULL;
}

static void add_sym(struct weft__syms *s, uintptr_t start, size_t size, const char *name, size_t map)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct sym *n = realloc(s->v, cap * sizeof(*n));
		if (!n) {
			s->oom = true;
			return;
		}
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = (struct sym){ start, start + (size ? size : 1), name, map };
}

/* The function symbols of the ELF file at path, loaded at base. Names are copied into
 * one arena per file (the mapping goes away). */
static void load_file(struct weft__syms *s, const char *path, uintptr_t base, size_t map)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *m = MAP_FAILED;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	size_t len = (size_t)st.st_size;
	const ElfW(Ehdr) *eh = m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len)
		goto out;
	const ElfW(Shdr) *sh = (const void *)((const char *)m + eh->e_shoff);
	const ElfW(Shdr) *tab = NULL;
	for (int pass = 0; pass < 2 && !tab; pass++)
		for (unsigned i = 0; i < eh->e_shnum; i++)
			if (sh[i].sh_type == (pass ? SHT_DYNSYM : SHT_SYMTAB)) {
				tab = &sh[i];
				break;
			}
	if (!tab || tab->sh_link >= eh->e_shnum || tab->sh_offset + tab->sh_size > len)
		goto out;
	const ElfW(Shdr) *strs = &sh[tab->sh_link];
	if (strs->sh_offset + strs->sh_size > len || strs->sh_size == 0)
		goto out;
	char *names = malloc(strs->sh_size + 1);
	if (!keep(s, names))
		goto out;
	memcpy(names, (const char *)m + strs->sh_offset, strs->sh_size);
	names[strs->sh_size] = 0;
	const ElfW(Sym) *sy = (const void *)((const char *)m + tab->sh_offset);
	for (size_t i = 0; i < tab->sh_size / sizeof(*sy); i++)
		if (ELF64_ST_TYPE(sy[i].st_info) == STT_FUNC && sy[i].st_value &&
		    sy[i].st_shndx != SHN_UNDEF && sy[i].st_name < strs->sh_size)
			add_sym(s, base + sy[i].st_value, sy[i].st_size, names + sy[i].st_name, map);
out:
	munmap(m, len);
}

static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct weft__syms *s = arg;
	const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : NULL;
	char exe[4096];

	if (!path) { /* the program itself (or the vDSO, which has no file: skipped below) */
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0 || s->nmaps)
			return 0;
		exe[n] = 0;
		path = exe;
	}
	if (path[0] != '/')
		return 0;
	char *file = keep(s, strdup(path));
	if (!file)
		return 0;
	size_t first = s->nmaps;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (s->nmaps == s->capmaps) {
			size_t cap = s->capmaps ? s->capmaps * 2 : 16;
			struct weft__sym_map *n = realloc(s->maps, cap * sizeof(*n));
			if (!n) {
				s->oom = true;
				return 0;
			}
			s->maps = n;
			s->capmaps = cap;
		}
		s->maps[s->nmaps++] = (struct weft__sym_map){
			.start = info->dlpi_addr + ph->p_vaddr,
			.limit = info->dlpi_addr + ph->p_vaddr + ph->p_memsz,
			.offset = ph->p_offset, .file = file,
		};
	}
	if (s->nmaps > first)
		load_file(s, path, info->dlpi_addr, first);
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

struct weft__syms *weft__syms_load(void)
{
	struct weft__syms *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	dl_iterate_phdr(on_object, s);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), by_start);
	return s;
}

const char *weft__syms_find(const struct weft__syms *s, uintptr_t addr, uintptr_t *ret_start,
			    const struct weft__sym_map **ret_map)
{
	size_t lo = 0, hi = s->n;

	*ret_map = NULL;
	for (size_t i = 0; i < s->nmaps; i++)
		if (addr >= s->maps[i].start && addr < s->maps[i].limit)
			*ret_map = &s->maps[i];
	while (lo < hi) { /* the last symbol starting at or below addr */
		size_t mid = (lo + hi) / 2;
		if (s->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* symbols may nest (aliases): look back a few for one that covers addr */
	for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++)
		if (addr < s->v[i].end) {
			*ret_start = s->v[i].start;
			return s->v[i].name;
		}
	return NULL;
}

size_t weft__syms_maps(const struct weft__syms *s, const struct weft__sym_map **ret)
{
	*ret = s->maps;
	return s->nmaps;
}

void weft__syms_free(struct weft__syms *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	free(s->v);
	free(s->maps);
	free(s);
}
