<?php
// Settings of the action in the business-process designer.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}
/** @var \Bitrix\Bizproc\Activity\PropertiesDialog $dialog */
foreach ($dialog->getMap() as $field):
?>
<tr>
    <td align="right" width="40%"><?php if (!empty($field['Required'])): ?><span class="adm-required-field"><?php endif ?><?= htmlspecialcharsbx($field['Name']) ?>:<?php if (!empty($field['Required'])): ?></span><?php endif ?></td>
    <td width="60%">
        <?= $dialog->renderFieldControl($field) ?>
        <?php if ($field['FieldName'] === 'files'): ?><br><small><?= htmlspecialcharsbx(GetMessage('C2D_SEND_FILES_HINT')) ?></small><?php endif ?>
    </td>
</tr>
<?php endforeach;
