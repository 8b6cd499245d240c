package catalog

import (
	"github.com/go-playground/validator/v10"
)

var validate = validator.New(validator.WithRequiredStructEnabled())

// IsCurrency reports whether code is an ISO 4217 alphabetic currency code.
func IsCurrency(code string) bool { return validate.Var(code, "required,iso4217") == nil }
