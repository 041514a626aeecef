/* compiler.h - attributes used across offpass. */
#ifndef OFFPASS_COMPILER_H
#define OFFPASS_COMPILER_H

/* A result that must be checked: every fallible internal function carries it. */
#define OFP_WUR __attribute__((warn_unused_result))
/* Symbols exported from a shared object (everything else is hidden). */
#define OFP_EXPORT __attribute__((visibility("default")))

#define OFP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
