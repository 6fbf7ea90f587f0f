/*
 * Lab 04's harness (see 04-key_as_dword.h): the server's malloc, calloc and free, served by
 * VirtualAlloc(MEM_TOP_DOWN), which places each block at the highest free address: above 4 GiB in
 * a 64-bit process. A page per block is wasteful and fine for a lab.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdint.h>

void *lab_high_malloc(size_t size);
void *lab_high_calloc(size_t count, size_t size);
void lab_high_free(void *block);

void *lab_high_malloc(size_t size)
{
    /* Zeroed by the system, so calloc needs nothing more. */
    return VirtualAlloc(NULL, size > 0 ? size : 1, MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN,
                        PAGE_READWRITE);
}

void *lab_high_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return lab_high_malloc(count * size);
}

void lab_high_free(void *block)
{
    if (block != NULL)
        (void)VirtualFree(block, 0, MEM_RELEASE); /* a block of ours: nothing to do if it fails */
}
