/*
 * Lab 04's harness, forced into the broken server's build only (cmake/labs.cmake): every block the
 * server allocates lies above 4 GiB, as a 64-bit Windows program's memory may, so a pointer cut to
 * 32 bits points nowhere on every system, Wine included. The student's source stays the lesson's:
 * nothing to delete but the mistake.
 */
#ifndef LAB_HIGH_MEMORY_H
#define LAB_HIGH_MEMORY_H
#include <stdlib.h> /* first, so that its own declarations keep their names */

void *lab_high_malloc(size_t size);
void *lab_high_calloc(size_t count, size_t size);
void lab_high_free(void *block);

#define malloc(size) lab_high_malloc(size)
#define calloc(count, size) lab_high_calloc(count, size)
#define free(block) lab_high_free(block)
#endif
