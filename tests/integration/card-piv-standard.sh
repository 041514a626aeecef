#!/bin/bash
# card-piv-standard.sh - card-piv.sh on a standard PIV card: the virtual
# card without YubiKey's extensions (offpass-vcard --profile standard).
OFFPASS_VCARD_PROFILE=standard exec bash "$(dirname "$0")/card-piv.sh" "$@"
