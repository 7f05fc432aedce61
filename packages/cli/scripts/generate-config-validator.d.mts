/** Where the generated validator goes. */
export declare const validatorFile: string
/** The ajv options the validator is compiled with. */
export declare const ajvOptions: { readonly allErrors: boolean; readonly verbose: boolean; readonly strict: boolean; readonly strictRequired: boolean }
/** The text of the validator module for the schema as it is now. */
export declare function generateConfigValidator(): string
