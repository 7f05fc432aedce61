/** The part of a JSON Schema (draft-07) the reference reads. */
interface SchemaNode {
  readonly type?: string | readonly string[]
  readonly description?: string
  readonly properties?: Readonly<Record<string, SchemaNode>>
  readonly required?: readonly string[]
  readonly items?: SchemaNode
  readonly enum?: readonly unknown[]
  readonly default?: unknown
  readonly minimum?: number
  readonly maximum?: number
  readonly minLength?: number
  readonly minItems?: number
  readonly maxItems?: number
  readonly pattern?: string
  readonly $ref?: string
  /** Alternatives (`string, or array of 1– of string`). */
  readonly anyOf?: readonly SchemaNode[]
  readonly definitions?: Readonly<Record<string, SchemaNode>>
}

/**
 * The reference of a cluster configuration as a Markdown table, one row per field (JSON path, type and bounds,
 * whether it is required, its default, its description), generated from the configuration's JSON Schema: the
 * table of docs/operations.md is this text, and a test fails when the two differ.
 */
export function configReferenceMarkdown(schema: object): string {
  const root = schema as SchemaNode
  const rows: string[] = ['| field | type | required | default | description |', '|---|---|---|---|---|']
  const visit = (node: SchemaNode, path: string, required: boolean): void => {
    const resolved = resolveRef(root, node)
    if (path !== '') rows.push(`| \`${path}\` | ${typeOf(resolved)} | ${required ? 'yes' : ''} | ${resolved.default === undefined ? '' : `\`${JSON.stringify(resolved.default)}\``} | ${cell(resolved.description ?? '')} |`)
    if (resolved.properties) {
      for (const [name, child] of Object.entries(resolved.properties)) {
        if (name === '$schema') continue
        visit(child, `${path}/${name}`, (resolved.required ?? []).includes(name))
      }
    }
    if (resolved.items) visit(resolved.items, `${path}/N`, false)
  }
  visit(root, '', true)
  return rows.join('\n')
}

function resolveRef(root: SchemaNode, node: SchemaNode): SchemaNode {
  const match = node.$ref ? /^#\/definitions\/(.+)$/.exec(node.$ref) : null
  const target = match ? root.definitions?.[match[1]!] : undefined
  return target ? { ...target, ...node, $ref: undefined, description: node.description ?? target.description } : node
}

/** `integer 1–65535`, `string: memory, file`, `array of 1–64`, `string, or array of 1– of string`. */
function typeOf(node: SchemaNode): string {
  if (node.type === undefined && node.anyOf) return node.anyOf.map((alternative) => typeOf(alternative) + (alternative.items ? ` of ${typeOf(alternative.items)}` : '')).join(', or ')
  const type = Array.isArray(node.type) ? node.type.join(' or ') : (node.type as string | undefined) ?? 'any'
  const parts = [type]
  if (node.enum) parts.push(`: ${node.enum.map((v) => `\`${String(v)}\``).join(', ')}`)
  if (node.minimum !== undefined || node.maximum !== undefined) parts.push(` ${node.minimum ?? ''}–${node.maximum ?? ''}`)
  if (node.minItems !== undefined || node.maxItems !== undefined) parts.push(` of ${node.minItems ?? 0}–${node.maxItems ?? ''}`)
  if (node.minLength !== undefined) parts.push(`, ≥ ${node.minLength} chars`)
  return cell(parts.join(''))
}

/** Text safe in a table cell: no pipes, no line breaks. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ')
}
